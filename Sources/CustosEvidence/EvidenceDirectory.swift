import Foundation

/// A bundle directory on disk, read for verification: `entries.jsonl` is read a chunk at a time into
/// reused buffers, so memory stays flat however long the bundle is.
public struct EvidenceDirectory: EvidenceSource {
  public let path: String

  public init(path: String) { self.path = path }

  public func contents(of name: String) throws -> [UInt8]? {
    FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)).map { [UInt8]($0) }
  }

  /// Bytes read at a time.
  public static let chunkBytes = 4 << 20

  public func reader(for name: String) throws -> (any EvidenceFileReader)? {
    let file = (path as NSString).appendingPathComponent(name)
    let descriptor = open(file, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      if errno == ENOENT { return nil }
      throw StreamError(description: "cannot open \(file): \(String(cString: strerror(errno)))")
    }
    _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
    return FileReader(descriptor: descriptor, file: file)
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

/// Reads a file through its descriptor, which it closes when it goes.
private final class FileReader: EvidenceFileReader {
  let descriptor: Int32
  let file: String

  init(descriptor: Int32, file: String) {
    self.descriptor = descriptor
    self.file = file
  }

  deinit { close(descriptor) }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    var filled = 0
    while filled < buffer.count {
      let count = readDescriptor(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
      if count < 0 {
        if errno == EINTR { continue }
        throw EvidenceDirectory.StreamError(description: "cannot read \(file): \(String(cString: strerror(errno)))")
      }
      if count == 0 { break }
      filled += count
    }
    return filled
  }
}

/// POSIX `read`, which the reader's own `read` method would otherwise shadow.
private func readDescriptor(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
  read(descriptor, buffer, count)
}
