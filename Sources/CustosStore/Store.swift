import CustosKeys
import CustosLedger
import CustosTokens

/// One database holding everything a node keeps: the embedded SQLite file (one node) or a shared
/// PostgreSQL database (several nodes). Each storage seam is implemented by both.
public protocol Store: Sendable {
  associatedtype Ledger: LedgerStorage
  associatedtype Keys: KeyStorage
  associatedtype Tokens: TokenStorage
  associatedtype LedgerKey: LedgerSigningKeyStore
  associatedtype Cosignatures: CosignatureStore

  var ledgerStorage: Ledger { get }
  var keyStorage: Keys { get }
  var tokenStorage: Tokens { get }
  var ledgerSigningKeyStore: LedgerKey { get }
  var cosignatureStore: Cosignatures { get }
  /// The applied schema migrations, oldest first.
  func appliedMigrations() throws -> [String]
}

extension SQLiteStore: Store {}
extension PostgresStore: Store {}
