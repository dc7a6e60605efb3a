import CustosLedger
import Foundation
import GRDB

/// `LedgerSigningKeyStore` on SQLite: one row, written once.
public struct SQLiteLedgerSigningKeyStore: LedgerSigningKeyStore {
  let pool: DatabasePool

  public func storedSigningKey() throws -> StoredLedgerSigningKey? {
    try pool.read { db in try Self.read(db) }
  }

  public func storeSigningKey(_ key: StoredLedgerSigningKey) throws -> StoredLedgerSigningKey {
    try pool.write { db in
      if let stored = try Self.read(db) { return stored }
      try db.execute(
        sql: "INSERT INTO ledger_signing_key (id, public_key, sealed_private_key) VALUES (1, ?, ?)",
        arguments: [Data(key.publicKey), Data(key.sealedPrivateKey)])
      return key
    }
  }

  static func read(_ db: Database) throws -> StoredLedgerSigningKey? {
    try Row.fetchOne(db, sql: "SELECT public_key, sealed_private_key FROM ledger_signing_key WHERE id = 1").map {
      StoredLedgerSigningKey(publicKey: [UInt8]($0["public_key"] as Data), sealedPrivateKey: [UInt8]($0["sealed_private_key"] as Data))
    }
  }
}
