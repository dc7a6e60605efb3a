import Dispatch
import Synchronization

/// Where a bundle's files are read from: whole for the small ones, in order for `entries.jsonl`.
public protocol EvidenceSource {
  /// The whole file, or nil if it is missing.
  func contents(of name: String) throws -> [UInt8]?
  /// A reader of the file from its start, or nil if the file is missing.
  func reader(for name: String) throws -> (any EvidenceFileReader)?
}

/// Reads one file from its start to its end.
public protocol EvidenceFileReader: Sendable {
  /// Reads the next bytes into `buffer`: as many as fit, fewer only at the end of the file; 0 once it
  /// has ended. Calls must not overlap.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension EvidenceFileReader {
  /// Reads the file from its start in chunks of `chunkBytes` through two reused buffers, so memory stays
  /// at two chunks however long the file is. `body` gets each chunk and, unless the file ends with it,
  /// `readNext`: the read of the next chunk into the other buffer, for `body` to run beside its own work
  /// (once, on any thread, finished before `body` returns); when `body` does not run it, it runs after.
  func forEachChunk(chunkBytes: Int, _ body: (UnsafeRawBufferPointer, _ readNext: (@Sendable () -> Void)?) throws -> Void) throws {
    precondition(chunkBytes > 0, "chunks of at least one byte")
    let buffers = [UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64),
                   UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)]
    defer { buffers.forEach { $0.deallocate() } }
    let ahead = ReadAhead(reader: self)
    ahead.target = buffers[0]
    ahead.read()
    var current = 0
    while true {
      let filled = try ahead.result.get()
      guard filled > 0 else { return }
      // A short read is the end of the file: nothing more to read beside this chunk.
      let more = filled == chunkBytes
      ahead.target = more ? buffers[1 - current] : nil
      let readNext: (@Sendable () -> Void)? = more ? { @Sendable in ahead.read() } : nil
      try body(UnsafeRawBufferPointer(rebasing: buffers[current][..<filled]), readNext)
      guard more else { return }
      ahead.read()
      current = 1 - current
    }
  }
}

extension EvidenceSource {
  /// Calls `body` with the file's bytes in order, in chunks of `chunkBytes` (valid only during the
  /// call), while the next chunk is read on another thread; false if the file is missing.
  public func stream(
    _ name: String, chunkBytes: Int = EvidenceDirectory.chunkBytes, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) throws -> Bool {
    guard let reader = try reader(for: name) else { return false }
    try reader.forEachChunk(chunkBytes: chunkBytes) { chunk, readNext in
      let reading = DispatchSemaphore(value: 0)
      if let readNext {
        DispatchQueue.global().async {
          readNext()
          reading.signal()
        }
      }
      // The buffer being read into must not be touched (or freed) before the read is done.
      defer { if readNext != nil { reading.wait() } }
      try body(chunk)
    }
    return true
  }
}

/// A bundle held in memory (tests, or one just received).
public struct InMemoryEvidence: EvidenceSource {
  public var files: [String: [UInt8]]

  public init(_ files: [String: [UInt8]]) { self.files = files }

  public func contents(of name: String) throws -> [UInt8]? { files[name] }

  public func reader(for name: String) throws -> (any EvidenceFileReader)? {
    files[name].map(BytesReader.init)
  }

  private final class BytesReader: EvidenceFileReader {
    let bytes: [UInt8]
    let offset = Mutex(0)

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
      offset.withLock { offset in
        let count = min(buffer.count, bytes.count - offset)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
        offset += count
        return count
      }
    }
  }
}

/// The read of a file's next chunk, run beside the work on the current one.
private final class ReadAhead: @unchecked Sendable {
  // @unchecked Sendable: `forEachChunk` sets `target` only while no read runs, one job runs `read`
  // while `body` works, and `result` is read only after `body` has returned, which waits for that job;
  // `read` clears `target`, so a second call (the one after `body`) does nothing.
  let reader: any EvidenceFileReader
  var target: UnsafeMutableRawBufferPointer?
  var result: Result<Int, any Error> = .success(0)

  init(reader: any EvidenceFileReader) { self.reader = reader }

  func read() {
    guard let target else { return }
    self.target = nil
    result = Result { try reader.read(into: target) }
  }
}
