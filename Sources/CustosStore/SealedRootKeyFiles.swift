import CustosKeys
import Foundation

/// The sealed root key as files in the keys directory: `root.sealed` and, during a root rotation,
/// `root.sealed.next`. Files are 0600 from creation and fsynced (with the directory) before a call returns.
public struct SealedRootKeyFiles: SealedRootKeyStore {
  public static let currentName = "root.sealed"
  public static let stagedName = "root.sealed.next"

  public let directory: String

  /// Creates the directory (0700) if needed.
  public init(directory: String) throws {
    self.directory = directory
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  var currentPath: String { (directory as NSString).appendingPathComponent(Self.currentName) }
  var stagedPath: String { (directory as NSString).appendingPathComponent(Self.stagedName) }

  public func read() throws -> (current: [UInt8]?, next: [UInt8]?) {
    (try Self.readIfPresent(currentPath), try Self.readIfPresent(stagedPath))
  }

  public func create(_ sealed: [UInt8]) throws {
    try Self.write(sealed, to: currentPath, exclusive: true)
    try syncDirectory()
  }

  public func stage(_ sealed: [UInt8]) throws {
    unlink(stagedPath)
    try Self.write(sealed, to: stagedPath, exclusive: true)
    try syncDirectory()
  }

  public func promoteStaged() throws {
    guard rename(stagedPath, currentPath) == 0 else { throw Self.failure("rename \(stagedPath) to \(currentPath)") }
    try syncDirectory()
  }

  public func discardStaged() throws {
    guard unlink(stagedPath) == 0 || errno == ENOENT else { throw Self.failure("delete \(stagedPath)") }
    try syncDirectory()
  }

  private static func readIfPresent(_ path: String) throws -> [UInt8]? {
    var status = stat()
    guard stat(path, &status) == 0 else {
      if errno == ENOENT { return nil }
      throw failure("stat \(path)")
    }
    guard status.st_mode & 0o077 == 0 else {
      throw SealedFileError(description: "\(path) is readable by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
    }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
  }

  private static func write(_ bytes: [UInt8], to path: String, exclusive: Bool) throws {
    let fd = open(path, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), 0o600)
    guard fd >= 0 else { throw failure("create \(path)") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count, fsync(fd) == 0 else {
      let error = failure("write \(path)")
      unlink(path)
      throw error
    }
  }

  private func syncDirectory() throws {
    let fd = open(directory, O_RDONLY)
    guard fd >= 0 else { throw Self.failure("open \(directory)") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw Self.failure("fsync \(directory)") }
  }

  private static func failure(_ what: String) -> SealedFileError {
    SealedFileError(description: "cannot \(what): \(String(cString: strerror(errno)))")
  }

  struct SealedFileError: Error, CustomStringConvertible {
    let description: String
  }
}
