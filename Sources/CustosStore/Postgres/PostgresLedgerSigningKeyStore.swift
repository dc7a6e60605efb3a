import CustosLedger
import NIOCore
import PostgresNIO

/// `LedgerSigningKeyStore` on PostgreSQL: one row shared by every node, written once.
public struct PostgresLedgerSigningKeyStore: LedgerSigningKeyStore {
  let store: PostgresStore

  public func storedSigningKey() throws -> StoredLedgerSigningKey? {
    try store.rows("SELECT public_key, sealed_private_key FROM ledger_signing_key WHERE id = 1").first.map(Self.decode)
  }

  public func storeSigningKey(_ key: StoredLedgerSigningKey) throws -> StoredLedgerSigningKey {
    try store.execute("""
      INSERT INTO ledger_signing_key (id, public_key, sealed_private_key)
      VALUES (1, \(ByteBuffer(bytes: key.publicKey)), \(ByteBuffer(bytes: key.sealedPrivateKey))) ON CONFLICT (id) DO NOTHING
      """)
    guard let stored = try storedSigningKey() else { throw StoreError.unavailable(database: store.settings.description, reason: "the ledger signing key row vanished") }
    return stored
  }

  static func decode(_ row: PostgresRow) throws -> StoredLedgerSigningKey {
    let (publicKey, sealed) = try row.decode((ByteBuffer, ByteBuffer).self)
    return StoredLedgerSigningKey(publicKey: Array(buffer: publicKey), sealedPrivateKey: Array(buffer: sealed))
  }
}
