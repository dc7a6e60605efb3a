import CustosLedger
import PostgresNIO

/// `CosignatureStore` on PostgreSQL, shared by every node.
public struct PostgresCosignatureStore: CosignatureStore {
  let store: PostgresStore

  public func saveCosignature(size: UInt64, witness: String, line: String) throws {
    try store.execute("""
      INSERT INTO witness_cosignatures (size, witness, line) VALUES (\(Int64(size)), \(witness), \(line))
      ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line
      """)
  }

  public func recentCosignatures(sizes: Int) throws -> [(size: UInt64, witness: String, line: String)] {
    try store.rows("""
      SELECT size, witness, line FROM witness_cosignatures
      WHERE size IN (SELECT DISTINCT size FROM witness_cosignatures ORDER BY size DESC LIMIT \(sizes)) ORDER BY size DESC, witness
      """).map { row in
      let (size, witness, line) = try row.decode((Int64, String, String).self)
      return (UInt64(size), witness, line)
    }
  }
}
