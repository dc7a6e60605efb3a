import CustosBackup
import CustosKeys
import CustosLedger
import CustosPolicy
import Foundation

/// Restores a backup into a new deployment, all or nothing: the whole file is verified first, then read
/// again and written into directories beside the targets that are moved into place only once complete
/// (a PostgreSQL target gets the restored deployment in one transaction). On failure nothing is left.
public enum BackupRestore {
  public struct Targets: Sendable {
    public var dataDirectory: String
    public var keysDirectory: String
    /// Where the policy set's files go (a single node reads its set from a directory); nil: not written.
    public var policiesDirectory: String?
    /// An empty PostgreSQL database to restore into instead of a SQLite file in `dataDirectory`.
    public var postgres: PostgresSettings?

    public init(dataDirectory: String, keysDirectory: String, policiesDirectory: String? = nil, postgres: PostgresSettings? = nil) {
      self.dataDirectory = dataDirectory
      self.keysDirectory = keysDirectory
      self.policiesDirectory = policiesDirectory
      self.postgres = postgres
    }
  }

  public static func restore(
    file: String, verifierKey: String?, into targets: Targets, progress: @escaping @Sendable (String, UInt64, UInt64?) -> Void = { _, _, _ in }
  ) throws -> BackupReader.Verified {
    let destinations = [targets.dataDirectory, targets.keysDirectory] + (targets.policiesDirectory.map { [$0] } ?? [])
    for directory in destinations where !isEmptyOrAbsent(directory) {
      throw StoreError.refused(database: directory, reason: "restore only into empty or new directories")
    }
    var check = try BackupReader(path: file)
    let verified = try check.verify(verifierKey: verifierKey) { done, _ in progress("verifying", done, nil) }
    let size = verified.manifest.treeSize

    let suffix = ".restoring-\(UUID().uuidString.prefix(8))"
    let staging = destinations.map { $0 + suffix }
    defer { for directory in staging { try? FileManager.default.removeItem(atPath: directory) } }
    for directory in staging {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    let (data, keys) = (staging[0], staging[1])
    try write(file: file, verified: verified, dataDirectory: data, keysDirectory: keys) { progress("restoring", $0, size) }
    if targets.policiesDirectory != nil {
      for policy in verified.contents.policyFiles {
        guard !policy.name.contains("/"), !policy.name.hasPrefix(".") else {
          throw StoreError.refused(database: file, reason: "policy file name \"\(policy.name)\" is not a plain file name")
        }
        try Data(policy.content).write(to: URL(fileURLWithPath: (staging[2] as NSString).appendingPathComponent(policy.name)))
      }
    }
    if let postgres = targets.postgres {
      let sqlite = try SQLiteStore(path: (data as NSString).appendingPathComponent("custos.sqlite"))
      let target = try PostgresStore(settings: postgres)
      defer { target.shutdown() }
      _ = try target.importDeployment(from: sqlite, sealedRootKey: try SealedRootKeyFiles(directory: keys).read()) { done, total in
        progress("copying", done, total)
      }
      let files = verified.contents.policyFiles.map { (name: $0.name, bytes: $0.content) }
      if !files.isEmpty { try target.policySetStorage.activatePolicySet(hash: try PolicySet(files: files).hash.hex, files: files) }
      return verified
    }
    for (from, to) in zip(staging, destinations) {
      if FileManager.default.fileExists(atPath: to) { try FileManager.default.removeItem(atPath: to) }
      try FileManager.default.moveItem(atPath: from, toPath: to)
    }
    return verified
  }

  /// The second pass: the log batch by batch as it verifies again, then everything else.
  private static func write(
    file: String, verified: BackupReader.Verified, dataDirectory: String, keysDirectory: String, progress: (UInt64) -> Void
  ) throws {
    let store = try SQLiteStore(path: (dataDirectory as NSString).appendingPathComponent("custos.sqlite"))
    let ledger = store.ledgerStorage
    var reader = try BackupReader(path: file)
    let again = try reader.verify(verifierKey: verified.manifest.verifierKey) { done, _ in progress(done) } onBatch: { batch in
      try ledger.appendBatch { tip in
        guard tip?.size ?? 0 == batch.baseSize else { throw StoreError.refused(database: dataDirectory, reason: "restore out of order") }
        return batch
      }
    }
    guard again.manifest == verified.manifest else { throw StoreError.refused(database: file, reason: "the file changed while it was restored") }
    let contents = again.contents
    let keys = store.keyStorage
    if let id = contents.rootKeyID { try keys.setRootKeyID(id) }
    for keyring in contents.keyrings { try keys.insertKeyring(keyring) }
    if let key = contents.ledgerSigningKey { _ = try store.ledgerSigningKeyStore.storeSigningKey(key) }
    let tokens = store.tokenStorage
    for client in contents.clients { try tokens.insertClient(client) }
    for key in contents.tokenSigningKeys { try tokens.insertSigningKey(key, retiring: [:]) }
    for revocation in contents.revocations { try tokens.insertRevocation(revocation) }
    let sealed = try SealedRootKeyFiles(directory: keysDirectory)
    guard let current = contents.sealedRootKey.current else {
      throw StoreError.refused(database: file, reason: "the backup holds no sealed root key")
    }
    try sealed.create(current)
    if let next = contents.sealedRootKey.next { try sealed.stage(next) }
  }

  static func isEmptyOrAbsent(_ directory: String) -> Bool {
    guard FileManager.default.fileExists(atPath: directory) else { return true }
    return (try? FileManager.default.contentsOfDirectory(atPath: directory).isEmpty) ?? false
  }
}
