import CustosLedger
import GRDB

/// `CosignatureStore` on SQLite.
public struct SQLiteCosignatureStore: CosignatureStore {
  let pool: DatabasePool

  public func saveCosignature(size: UInt64, witness: String, line: String) throws {
    try pool.write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO witness_cosignatures (size, witness, line) VALUES (?, ?, ?)", arguments: [Int64(size), witness, line])
    }
  }

  public func recentCosignatures(sizes: Int) throws -> [(size: UInt64, witness: String, line: String)] {
    try pool.read { db in
      try Row.fetchAll(db, sql: """
        SELECT size, witness, line FROM witness_cosignatures
        WHERE size IN (SELECT DISTINCT size FROM witness_cosignatures ORDER BY size DESC LIMIT ?) ORDER BY size DESC, witness
        """, arguments: [sizes]).map { (UInt64($0["size"] as Int64), $0["witness"], $0["line"]) }
    }
  }
}
