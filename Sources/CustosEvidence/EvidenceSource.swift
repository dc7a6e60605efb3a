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

extension EvidenceSource {
  /// Calls `body` with the file's bytes in order, in chunks of `chunkBytes` (valid only during the
  /// call), while the next chunk is read on another thread; false if the file is missing.
  public func stream(
    _ name: String, chunkBytes: Int = EvidenceDirectory.chunkBytes, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) throws -> Bool {
    guard let reader = try reader(for: name) else { return false }
    let buffers = [ReadAhead(reader: reader, capacity: chunkBytes), ReadAhead(reader: reader, capacity: chunkBytes)]
    var current = 0
    var pending: ReadAhead? = buffers[0]
    buffers[0].start()
    // Never leave a read in flight into a buffer that is about to be freed (when `body` throws).
    defer { pending?.wait() }
    while true {
      let chunk = buffers[current]
      chunk.wait()
      pending = nil
      let filled = try chunk.result.get()
      guard filled > 0 else { return true }
      let last = filled < chunkBytes
      if !last {
        pending = buffers[1 - current]
        buffers[1 - current].start()
      }
      try body(UnsafeRawBufferPointer(rebasing: chunk.bytes[..<filled]))
      if last { return true }
      current = 1 - current
    }
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

/// One read-ahead buffer of `EvidenceSource.stream`.
private final class ReadAhead: @unchecked Sendable {
  // @unchecked Sendable: `start` hands the buffer to one background read and `wait` takes it back; the
  // stream touches it only in between (after `wait`, before the next `start`), and reads of the one
  // file never overlap because the next `start` comes only after the previous read was waited for.
  let reader: any EvidenceFileReader
  let bytes: UnsafeMutableRawBufferPointer
  private(set) var result: Result<Int, any Error> = .success(0)
  private let done = DispatchSemaphore(value: 0)

  init(reader: any EvidenceFileReader, capacity: Int) {
    self.reader = reader
    bytes = .allocate(byteCount: capacity, alignment: 64)
  }

  deinit { bytes.deallocate() }

  /// Starts reading the next chunk of the file in the background.
  func start() {
    DispatchQueue.global().async { [self] in
      result = Result { try reader.read(into: bytes) }
      done.signal()
    }
  }

  func wait() { done.wait() }
}
