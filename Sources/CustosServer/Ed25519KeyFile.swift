import CustosCrypto
import Foundation

/// An Ed25519 private key in a file of its own: 32 raw seed bytes, mode 0600, never overwritten.
enum Ed25519KeyFile {
  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// The key in `path`; refuses a file others can read.
  static func load(_ path: String) throws -> Ed25519.PrivateKey {
    var status = stat()
    guard stat(path, &status) == 0 else { throw Failure(description: "cannot stat \(path)") }
    guard status.st_mode & 0o077 == 0 else {
      throw Failure(description: "\(path) is readable by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
    }
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    defer { SecretBytes.wipe(&bytes) }
    guard bytes.count == Ed25519.privateKeyLength else {
      throw Failure(description: "\(path) must hold 32 bytes, holds \(bytes.count)")
    }
    return try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: bytes))
  }

  /// The key in `path`, or a new one written there (O_EXCL, 0600 from the first byte).
  static func loadOrCreate(_ path: String) throws -> Ed25519.PrivateKey {
    if FileManager.default.fileExists(atPath: path) { return try load(path) }
    let key = Ed25519.PrivateKey()
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let written = key.rawRepresentation.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == Ed25519.privateKeyLength, fsync(fd) == 0 else {
      unlink(path)
      throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
    }
    return key
  }
}
