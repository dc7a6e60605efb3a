import CustosCrypto
import CustosLedger
import Foundation
import GRDB

/// The `idempotency_keys` rows a batch reads and writes inside its write transaction.
enum SQLiteIdempotencyRecords {
  static func read(_ keys: [IdempotencyKey], _ db: Database) throws -> [IdempotencyKey: IdempotencyRecord] {
    guard !keys.isEmpty else { return [:] }
    let statement = try db.cachedStatement(sql: """
      SELECT fingerprint, response, expires_at, first_index, entry_count FROM idempotency_keys WHERE caller = ? AND key = ?
      """)
    var found: [IdempotencyKey: IdempotencyRecord] = [:]
    for key in keys {
      guard let row = try Row.fetchOne(statement, arguments: [key.caller, key.key]) else { continue }
      guard let fingerprint = SHA256Digest(bytes: [UInt8](row["fingerprint"] as Data)) else {
        throw StoreError.refused(database: "SQLite", reason: "the stored fingerprint of \(key) is not 32 bytes")
      }
      found[key] = IdempotencyRecord(
        key: key, fingerprint: fingerprint, response: [UInt8](row["response"] as Data),
        expiresAt: row["expires_at"], firstIndex: UInt64(row["first_index"] as Int64), entryCount: UInt32(row["entry_count"] as Int64))
    }
    return found
  }

  /// Inserts the records, replacing expired ones under the same key (the caller read them under the lock).
  static func write(_ records: [IdempotencyRecord], _ db: Database) throws {
    guard !records.isEmpty else { return }
    let statement = try db.cachedStatement(sql: """
      INSERT OR REPLACE INTO idempotency_keys (caller, key, fingerprint, response, expires_at, first_index, entry_count)
      VALUES (?, ?, ?, ?, ?, ?, ?)
      """)
    for record in records {
      try statement.execute(arguments: [
        record.key.caller, record.key.key, Data(record.fingerprint.bytes), Data(record.response), record.expiresAt,
        Int64(record.firstIndex), Int64(record.entryCount),
      ])
    }
  }
}
