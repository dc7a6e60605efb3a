import CustosCrypto
import CustosLedger
import Foundation
import GRDB

/// `LedgerStorage` on SQLite: entries with their query columns, closed Merkle nodes, signed checkpoints.
public final class SQLiteLedgerStorage: LedgerStorage {
  let pool: DatabasePool

  init(pool: DatabasePool) { self.pool = pool }

  public func appendBatch(_ batch: LedgerBatch) throws {
    try pool.write { db in
      let insertEntry = try db.cachedStatement(sql: """
        INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)
      for entry in batch.entries {
        try insertEntry.execute(arguments: [
          Int64(entry.index), blob(entry.canonical), blob(entry.leafHash.bytes), entry.time, entry.kind, entry.actor,
          entry.action, entry.resource, entry.outcome,
        ])
      }
      let insertNode = try db.cachedStatement(sql: "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)")
      for (id, hash) in batch.closedNodes {
        try insertNode.execute(arguments: [Int64(id.level), Int64(id.index), blob(hash.bytes)])
      }
      let checkpoint = batch.checkpoint
      try db.execute(
        sql: "INSERT INTO ledger_checkpoints (size, root_hash, note) VALUES (?, ?, ?)",
        arguments: [Int64(checkpoint.checkpoint.size), blob(checkpoint.checkpoint.rootHash.bytes), checkpoint.note])
    }
  }

  public func latestCheckpoint() throws -> SignedCheckpoint? {
    try pool.read { db in
      try Row.fetchOne(db, sql: "SELECT size, root_hash, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
        .map(Self.checkpoint)
    }
  }

  public func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] {
    try pool.read { db in
      try Row.fetchAll(
        db, sql: "SELECT size, root_hash, note FROM ledger_checkpoints WHERE size BETWEEN ? AND ? ORDER BY size",
        arguments: [Int64(clamping: sizes.lowerBound), Int64(clamping: sizes.upperBound)]
      ).map(Self.checkpoint)
    }
  }

  public func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] {
    try pool.read { db in
      let leaf = try db.cachedStatement(sql: "SELECT leaf_hash FROM ledger_entries WHERE idx = ?")
      let node = try db.cachedStatement(sql: "SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?")
      var result: [NodeID: SHA256Digest] = [:]
      for id in ids where result[id] == nil {
        let data: Data?
        if id.level == 0 {
          data = try Data.fetchOne(leaf, arguments: [Int64(id.index)])
        } else {
          data = try Data.fetchOne(node, arguments: [Int64(id.level), Int64(id.index)])
        }
        if let data, let digest = SHA256Digest(bytes: [UInt8](data)) { result[id] = digest }
      }
      return result
    }
  }

  public func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws {
    guard !range.isEmpty else { return }
    try pool.read { db in
      let rows = try Row.fetchCursor(
        db, sql: "SELECT \(Self.entryColumns) FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
        arguments: [Int64(clamping: range.lowerBound), Int64(clamping: range.upperBound)])
      while let row = try rows.next() {
        guard try body(Self.entry(row)) else { break }
      }
    }
  }

  public func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk {
    guard !range.isEmpty else { return EntryBytesChunk() }
    return try pool.read { db in
      var chunk = EntryBytesChunk(reservingEntries: Int(range.count), bytes: Int(range.count) * 320)
      let statement = try db.cachedStatement(sql: "SELECT idx, canonical, leaf_hash FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx")
      let rows = try Row.fetchCursor(statement, arguments: [Int64(clamping: range.lowerBound), Int64(clamping: range.upperBound)])
      while let row = try rows.next() {
        let index = UInt64(row[0] as Int64)
        let leaf = try row.withUnsafeData(atIndex: 2) { data in data?.withUnsafeBytes { SHA256Digest(bytes: $0) } } ?? .zero
        try row.withUnsafeData(atIndex: 1) { data in
          (data ?? Data()).withUnsafeBytes { chunk.append(index: index, canonical: $0, storedLeafHash: leaf) }
        }
      }
      return chunk
    }
  }

  public func query(_ query: LedgerQuery) throws -> [StoredEntry] {
    try pool.read { db in
      // The ledger never lets time go backwards, so a time range is an index range: two lookups on the
      // time index bound the search, and the column filters then use their (column, idx) indexes.
      var lower = Int64(clamping: query.startIndex)
      var upper = Int64.max
      if let from = query.timeFrom {
        let first = try Int64.fetchOne(db, sql: "SELECT idx FROM ledger_entries WHERE time >= ? ORDER BY time, idx LIMIT 1", arguments: [from])
        lower = max(lower, first ?? Int64.max)
      }
      if let to = query.timeTo {
        let end = try Int64.fetchOne(db, sql: "SELECT idx FROM ledger_entries WHERE time >= ? ORDER BY time, idx LIMIT 1", arguments: [to])
        upper = end ?? Int64.max
      }
      var conditions = ["idx >= ?", "idx < ?"]
      var arguments: [any DatabaseValueConvertible] = [lower, upper]
      for (column, value) in Self.filters(query) {
        conditions.append("\(column) = ?")
        arguments.append(value)
      }
      arguments.append(query.limit)
      let sql = "SELECT \(Self.entryColumns) FROM ledger_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx LIMIT ?"
      return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.entry)
    }
  }

  private static func filters(_ query: LedgerQuery) -> [(String, String)] {
    [("kind", query.kind), ("actor", query.actor), ("action", query.action), ("resource", query.resource), ("outcome", query.outcome)]
      .compactMap { column, value in value.map { (column, $0) } }
  }

  /// The query plan SQLite chooses for `query`, for tests that prove queries use indexes.
  public func queryPlan(_ query: LedgerQuery) throws -> String {
    var conditions = ["idx >= 0", "idx < 1000"]
    for (column, _) in Self.filters(query) { conditions.append("\(column) = 'x'") }
    let sql = "EXPLAIN QUERY PLAN SELECT idx FROM ledger_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx LIMIT 10"
    return try pool.read { db in try Row.fetchAll(db, sql: sql).map { $0["detail"] as String? ?? "" }.joined(separator: "; ") }
  }

  private static let entryColumns = "idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome"

  private static func entry(_ row: Row) throws -> StoredEntry {
    let leafBytes: Data = row["leaf_hash"]
    let canonical: Data = row["canonical"]
    return StoredEntry(
      index: UInt64(row["idx"] as Int64), canonical: [UInt8](canonical),
      leafHash: SHA256Digest(bytes: [UInt8](leafBytes)) ?? .zero, time: row["time"], kind: row["kind"], actor: row["actor"],
      action: row["action"], resource: row["resource"], outcome: row["outcome"])
  }

  private static func checkpoint(_ row: Row) -> SignedCheckpoint {
    let root: Data = row["root_hash"]
    let size = UInt64(row["size"] as Int64)
    return SignedCheckpoint(
      checkpoint: Checkpoint(origin: "", size: size, rootHash: SHA256Digest(bytes: [UInt8](root)) ?? .zero), note: row["note"])
  }
}

private func blob(_ bytes: [UInt8]) -> Data { Data(bytes) }
