import Foundation

/// A bundle directory on disk, read for verification: `entries.jsonl` streams through one reused
/// buffer of `chunkBytes`, so memory stays flat however long the bundle is.
public struct EvidenceDirectory: EvidenceSource {
  public let path: String

  public init(path: String) { self.path = path }

  public func contents(of name: String) throws -> [UInt8]? {
    FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)).map { [UInt8]($0) }
  }

  /// Bytes read at a time.
  public static let chunkBytes = 4 << 20

  public func stream(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
    let file = (path as NSString).appendingPathComponent(name)
    let descriptor = open(file, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      if errno == ENOENT { return false }
      throw StreamError(description: "cannot open \(file): \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
    // Two buffers: the next chunk is read on another thread while `body` works on this one.
    let buffers = [ReadBuffer(descriptor: descriptor, capacity: Self.chunkBytes), ReadBuffer(descriptor: descriptor, capacity: Self.chunkBytes)]
    var current = 0
    var pending: ReadBuffer? = buffers[0]
    buffers[0].fill()
    // Never close the descriptor under a read still in flight (when `body` throws).
    defer { pending?.wait() }
    while true {
      let chunk = buffers[current]
      chunk.wait()
      pending = nil
      if let error = chunk.error { throw StreamError(description: "cannot read \(file): \(error)") }
      guard chunk.filled > 0 else { return true }
      let last = chunk.filled < chunk.capacity
      if !last {
        pending = buffers[1 - current]
        buffers[1 - current].fill()
      }
      try body(UnsafeRawBufferPointer(rebasing: chunk.bytes[..<chunk.filled]))
      if last { return true }
      current = 1 - current
    }
  }

  public struct StreamError: Error, CustomStringConvertible {
    public let description: String
  }
}

/// Writes a bundle into a directory as its chunks arrive (in any order of files), accepting only the
/// bundle's own file names, so a misbehaving sender cannot write elsewhere.
public final class EvidenceDirectoryWriter {
  public struct WriteError: Error, CustomStringConvertible {
    public let description: String
  }

  public let path: String
  private var handles: [String: FileHandle] = [:]
  /// The files in the order they were started.
  public private(set) var files: [String] = []

  public init(path: String) { self.path = path }

  deinit { for handle in handles.values { try? handle.close() } }

  public func write(_ name: String, _ bytes: [UInt8]) throws {
    try write(name, Data(bytes))
  }

  public func write(_ name: String, _ bytes: Data) throws {
    guard EvidenceBundle.allFiles.contains(name) else {
      throw WriteError(description: "unexpected bundle file \"\(name.prefix(80))\"")
    }
    if handles[name] == nil {
      let file = (path as NSString).appendingPathComponent(name)
      guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
        throw WriteError(description: "cannot write \(file)")
      }
      handles[name] = handle
      files.append(name)
    }
    try handles[name]!.write(contentsOf: bytes)
  }

  /// Makes every file durable and closes it.
  public func finish() throws {
    for handle in handles.values {
      try handle.synchronize()
      try handle.close()
    }
    handles = [:]
  }
}

/// One read-ahead buffer of `EvidenceDirectory.stream`.
private final class ReadBuffer: @unchecked Sendable {
  // @unchecked Sendable: `fill` hands the buffer to one background read and `wait` takes it back; the
  // stream touches it only in between (after `wait`, before the next `fill`), and reads of the one
  // descriptor never overlap because the next `fill` starts only after the previous read was waited for.
  let descriptor: Int32
  let bytes: UnsafeMutableRawBufferPointer
  var capacity: Int { bytes.count }
  private(set) var filled = 0
  private(set) var error: String?
  private let done = DispatchSemaphore(value: 0)

  init(descriptor: Int32, capacity: Int) {
    self.descriptor = descriptor
    bytes = .allocate(byteCount: capacity, alignment: 64)
  }

  deinit { bytes.deallocate() }

  /// Starts reading the next `capacity` bytes of the file in the background.
  func fill() {
    DispatchQueue.global().async { [self] in
      filled = 0
      error = nil
      while filled < capacity {
        let count = read(descriptor, bytes.baseAddress! + filled, capacity - filled)
        if count < 0 {
          if errno == EINTR { continue }
          error = String(cString: strerror(errno))
          break
        }
        if count == 0 { break }
        filled += count
      }
      done.signal()
    }
  }

  func wait() { done.wait() }
}
