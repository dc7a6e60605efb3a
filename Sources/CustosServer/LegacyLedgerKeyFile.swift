import CustosCrypto
import Foundation

/// `keys/ledger-signing.key`, where a single node kept its ledger key in plain (32 raw seed bytes, 0600)
/// before the key was sealed in the store. Read once, on the upgrade that seals it, then erased.
enum LegacyLedgerKeyFile {
  static let fileName = "ledger-signing.key"

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  static func path(keysDirectory: String) -> String {
    (keysDirectory as NSString).appendingPathComponent(fileName)
  }

  /// The key in the file, or nil when there is no file.
  static func load(keysDirectory: String) throws -> Ed25519.PrivateKey? {
    let path = path(keysDirectory: keysDirectory)
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    return try Ed25519KeyFile.load(path)
  }

  /// Overwrites the file with zeros, syncs and unlinks it, so the plain key is not left on disk.
  static func erase(keysDirectory: String) throws {
    let path = path(keysDirectory: keysDirectory)
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else {
      if errno == ENOENT { return }
      throw Failure(description: "cannot open \(path) to erase it: \(String(cString: strerror(errno)))")
    }
    let zeros = [UInt8](repeating: 0, count: Ed25519.privateKeyLength)
    let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == zeros.count, synced, unlink(path) == 0 else {
      throw Failure(description: "cannot erase \(path): \(String(cString: strerror(errno))); delete it by hand")
    }
  }
}
