import CustosCrypto
import Foundation

/// The ledger's Ed25519 checkpoint key in `keys/ledger-signing.key`: 32 raw seed bytes, mode 0600,
/// created on first start and never overwritten.
enum LedgerSigningKey {
  static let fileName = "ledger-signing.key"

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// Loads the key, creating it (and the directory, 0700) when absent.
  static func loadOrCreate(keysDirectory: String) throws -> (key: Ed25519.PrivateKey, created: Bool) {
    let path = (keysDirectory as NSString).appendingPathComponent(fileName)
    try FileManager.default.createDirectory(atPath: keysDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    if FileManager.default.fileExists(atPath: path) {
      return (try load(path: path), false)
    }
    let key = Ed25519.PrivateKey()
    // O_EXCL: never replace a key another process created meanwhile; 0600 from the first byte.
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let written = key.rawRepresentation.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == Ed25519.privateKeyLength, fsync(fd) == 0 else {
      unlink(path)
      throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
    }
    return (key, true)
  }

  private static func load(path: String) throws -> Ed25519.PrivateKey {
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
}
