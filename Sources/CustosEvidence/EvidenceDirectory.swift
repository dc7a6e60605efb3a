import Foundation

/// A bundle directory on disk, read for verification: `entries.jsonl` streams in 1 MiB chunks, so
/// memory stays flat however long the bundle is.
public struct EvidenceDirectory: EvidenceSource {
  public let path: String

  public init(path: String) { self.path = path }

  public func contents(of name: String) throws -> [UInt8]? {
    FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)).map { [UInt8]($0) }
  }

  public func stream(_ name: String, _ body: ([UInt8]) throws -> Void) throws -> Bool {
    guard let handle = FileHandle(forReadingAtPath: (path as NSString).appendingPathComponent(name)) else { return false }
    defer { try? handle.close() }
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { try body([UInt8](chunk)) }
    return true
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
