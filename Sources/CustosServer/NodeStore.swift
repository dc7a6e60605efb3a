import CustosCrypto
import CustosKeys
import CustosLedger
import CustosStore
import CustosTokens
import Foundation
import Logging

/// The store a node runs on, opened from the configuration: the embedded SQLite file with the sealed
/// root key in `keys/`, or the shared PostgreSQL database holding the sealed root key too (so every node
/// unseals the same one).
struct NodeStore {
  let ledger: any LedgerStorage
  let keys: any KeyStorage
  let tokens: any TokenStorage
  let sealedRootKey: any SealedRootKeyStore
  let ledgerSigningKey: any LedgerSigningKeyStore
  let cosignatures: any CosignatureStore
  /// Where the state is, for messages: a file path or a URL without password.
  let location: String
  /// The PostgreSQL store, when that is the one (health checks, lock metrics).
  let postgres: PostgresStore?

  static func open(
    _ configuration: Configuration, databasePassword: SecretBytes?, observeTip: @escaping @Sendable (TipLockEvent) -> Void,
    logger: Logger
  ) throws -> NodeStore {
    switch configuration.store {
    case .sqlite:
      do {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
      } catch {
        throw Daemon.StartupFailure(description: "cannot create the data directory \(configuration.dataDirectory): \(error.localizedDescription)")
      }
      let path = (configuration.dataDirectory as NSString).appendingPathComponent("custos.sqlite")
      let store = try SQLiteStore(path: path)
      let sealed: SealedRootKeyFiles
      do { sealed = try SealedRootKeyFiles(directory: configuration.keysDirectory) } catch {
        throw Daemon.StartupFailure(description: "keys_dir \(configuration.keysDirectory): \(error)")
      }
      return NodeStore(
        ledger: store.ledgerStorage, keys: store.keyStorage, tokens: store.tokenStorage, sealedRootKey: sealed,
        ledgerSigningKey: store.ledgerSigningKeyStore, cosignatures: store.cosignatureStore, location: path, postgres: nil)
    case .postgres:
      guard let url = configuration.databaseURL else { throw Daemon.StartupFailure(description: "store is postgres but database_url is not set") }
      let password = try databasePassword ?? Daemon.readSecretFile(configuration.databasePasswordFile, setting: "database_password_file")
      var settings = try PostgresSettings(url: url, password: password.map { String(decoding: $0.withUnsafeBytes { Array($0) }, as: UTF8.self) })
      settings.callTimeout = configuration.databaseCallTimeout
      let store: PostgresStore
      do { store = try PostgresStore(settings: settings, logger: logger) } catch {
        throw Daemon.StartupFailure(description: "database_url \(settings): \(error)")
      }
      return NodeStore(
        ledger: store.ledgerStorage.observingTip(observeTip), keys: store.keyStorage, tokens: store.tokenStorage,
        sealedRootKey: store.sealedRootKeyStore, ledgerSigningKey: store.ledgerSigningKeyStore, cosignatures: store.cosignatureStore,
        location: settings.description,
        postgres: store)
    }
  }
}
