import CustosCrypto
import CustosLedger
import Foundation
import GRDB
import Synchronization

/// `LedgerStorage` on SQLite: entries with their query columns, closed Merkle nodes, signed checkpoints.
public final class SQLiteLedgerStorage: LedgerStorage {
  let pool: DatabasePool
  private let checkpointer: WALCheckpointer
  private let nodeCache = Mutex<[NodeID: SHA256Digest]>([:])

  init(pool: DatabasePool, checkpointer: WALCheckpointer) {
    self.pool = pool
    self.checkpointer = checkpointer
  }

  @discardableResult
  public func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    // A write transaction is SQLite's write lock: the tip and keys read here cannot move before the commit.
    let written = try pool.write { db -> LedgerBatch? in
      let stored = try Self.readTip(db)
      guard let batch = try build(stored, try SQLiteIdempotencyRecords.read(claims, db)) else { return nil }
      try LedgerBatchCheck.fits(batch, on: stored)
      let insertEntry = try db.cachedStatement(sql: """
        INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome,
          kind_key, actor_key, action_key, resource_key, outcome_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)
      let raw = RawStatement(insertEntry)
      for entry in batch.entries {
        raw.reset()
        try raw.bind(1, Int64(entry.index))
        try raw.bind(2, entry.canonical)
        try raw.bind(3, entry.leafHash)
        try raw.bind(4, entry.time)
        // Each filter column's text at 5...9 and its index key at 10...14.
        func bindFilter(_ offset: Int32, _ value: String) throws {
          try raw.bind(5 + offset, value)
          try raw.bind(10 + offset, FilterKey.of(value))
        }
        try bindFilter(0, entry.kind)
        try bindFilter(1, entry.actor)
        try bindFilter(2, entry.action)
        try bindFilter(3, entry.resource)
        try bindFilter(4, entry.outcome)
        try raw.step(db)
      }
      let insertNode = RawStatement(try db.cachedStatement(sql: "INSERT INTO ledger_node_tiles (tile, level, idx, hash) VALUES (?, ?, ?, ?)"))
      for (id, hash) in batch.closedNodes {
        insertNode.reset()
        try insertNode.bind(1, NodeTile.of(id))
        try insertNode.bind(2, Int64(id.level))
        try insertNode.bind(3, Int64(id.index))
        try insertNode.bind(4, hash)
        try insertNode.step(db)
      }
      let checkpoint = batch.checkpoint
      try db.execute(
        sql: "INSERT INTO ledger_checkpoints (size, root_hash, note) VALUES (?, ?, ?)",
        arguments: [Int64(checkpoint.checkpoint.size), blob(checkpoint.checkpoint.rootHash.bytes), checkpoint.note])
      try Self.writeTip(batch.tip, db)
      try SQLiteIdempotencyRecords.write(batch.idempotencyRecords, db)
      return batch
    }
    guard let batch = written else { return nil }
    // Roughly what the batch put in the WAL: each entry's bytes, its query columns and index entries.
    checkpointer.committed(bytes: batch.entries.reduce(0) { $0 + $1.canonical.count + 256 } + batch.closedNodes.count * 64)
    return batch
  }

  public func tip() throws -> LedgerTip? {
    try pool.read { db in try Self.readTip(db) }
  }

  public func idempotencyRecords(_ keys: [IdempotencyKey]) throws -> [IdempotencyKey: IdempotencyRecord] {
    try pool.read { db in try SQLiteIdempotencyRecords.read(keys, db) }
  }

  public func pruneIdempotencyRecords(expiredBy time: Int64) throws -> Int {
    try pool.write { db in
      try db.execute(sql: "DELETE FROM idempotency_keys WHERE expires_at <= ?", arguments: [time])
      return db.changesCount
    }
  }

  static func readTip(_ db: Database) throws -> LedgerTip? {
    guard let row = try Row.fetchOne(db, sql: "SELECT size, range_hashes, last_leaf_hash, last_time, checkpoint_note FROM ledger_tip WHERE id = 1")
    else { return nil }
    return try StoredTipColumns(
      size: row["size"], rangeHashes: [UInt8](row["range_hashes"] as Data), lastLeafHash: [UInt8](row["last_leaf_hash"] as Data),
      lastTime: row["last_time"], checkpointNote: row["checkpoint_note"]
    ).tip()
  }

  static func writeTip(_ tip: LedgerTip, _ db: Database) throws {
    let columns = StoredTipColumns(tip)
    try db.execute(
      sql: """
        INSERT INTO ledger_tip (id, size, range_hashes, last_leaf_hash, last_time, checkpoint_note) VALUES (1, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET size = excluded.size, range_hashes = excluded.range_hashes,
          last_leaf_hash = excluded.last_leaf_hash, last_time = excluded.last_time, checkpoint_note = excluded.checkpoint_note
        """,
      arguments: [columns.size, Data(columns.rangeHashes), Data(columns.lastLeafHash), columns.lastTime, columns.checkpointNote])
  }

  /// The tip of a log written before tips were stored, from its latest checkpoint and stored nodes.
  static func tipFromTree(_ db: Database) throws -> LedgerTip? {
    guard let latest = try Row.fetchOne(db, sql: "SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1") else { return nil }
    let size = UInt64(latest["size"] as Int64)
    var hashes: [SHA256Digest] = []
    for id in CompactRange.nodeIDs(size: size) {
      let bytes = id.level == 0
        ? try Data.fetchOne(db, sql: "SELECT leaf_hash FROM ledger_entries WHERE idx = ?", arguments: [Int64(id.index)])
        : try Data.fetchOne(
          db, sql: "SELECT hash FROM ledger_node_tiles WHERE tile = ? AND level = ? AND idx = ?",
          arguments: [NodeTile.of(id), Int64(id.level), Int64(id.index)])
      guard let bytes, let hash = SHA256Digest(bytes: [UInt8](bytes)) else { throw StoredTipColumns.missing("Merkle node \(id)") }
      hashes.append(hash)
    }
    guard let last = try Row.fetchOne(db, sql: "SELECT leaf_hash, time FROM ledger_entries WHERE idx = ?", arguments: [Int64(size - 1)]),
      let leaf = SHA256Digest(bytes: [UInt8](last["leaf_hash"] as Data))
    else { throw StoredTipColumns.missing("entry \(size - 1)") }
    return LedgerTip(size: size, rangeHashes: hashes, lastLeafHash: leaf, lastTime: last["time"], checkpointNote: latest["note"])
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
    var result: [NodeID: SHA256Digest] = [:]
    result.reserveCapacity(ids.count)
    var missing: [NodeID] = []
    nodeCache.withLock { cache in
      for id in ids where result[id] == nil {
        if let hash = cache[id] { result[id] = hash } else { missing.append(id) }
      }
    }
    guard !missing.isEmpty else { return result }
    var found: [NodeID: SHA256Digest] = [:]
    try pool.read { db in
      let leaf = RawStatement(try db.cachedStatement(sql: "SELECT leaf_hash FROM ledger_entries WHERE idx = ?"))
      let node = RawStatement(try db.cachedStatement(sql: "SELECT hash FROM ledger_node_tiles WHERE tile = ? AND level = ? AND idx = ?"))
      defer {
        leaf.reset()
        node.reset()
      }
      for id in missing where found[id] == nil {
        let statement = id.level == 0 ? leaf : node
        statement.reset()
        if id.level == 0 {
          try statement.bind(1, Int64(id.index))
        } else {
          try statement.bind(1, NodeTile.of(id))
          try statement.bind(2, Int64(id.level))
          try statement.bind(3, Int64(id.index))
        }
        if try statement.nextRow(db), let hash = statement.withBlob(at: 0, { SHA256Digest(bytes: $0) }) { found[id] = hash }
      }
    }
    // Interior nodes never change once written, and the high ones are shared by every proof.
    nodeCache.withLock { cache in
      for (id, hash) in found where id.level >= Self.cachedLevels && cache.count < Self.cacheCapacity { cache[id] = hash }
    }
    result.merge(found) { a, _ in a }
    return result
  }

  /// Nodes at or above this level are kept in memory once read (there are n / 2^level of them).
  static let cachedLevels: UInt8 = 6
  static let cacheCapacity = 1 << 20

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
      let rows = RawStatement(
        try db.cachedStatement(sql: "SELECT idx, canonical, leaf_hash FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx"))
      rows.reset()
      defer { rows.reset() }  // release the statement's read snapshot even when a step throws
      try rows.bind(1, Int64(clamping: range.lowerBound))
      try rows.bind(2, Int64(clamping: range.upperBound))
      while try rows.nextRow(db) {
        let leaf = rows.withBlob(at: 2) { SHA256Digest(bytes: $0) } ?? .zero
        rows.withBlob(at: 1) { chunk.append(index: UInt64(rows.int64(at: 0)), canonical: $0, storedLeafHash: leaf) }
      }
      return chunk
    }
  }

  public func query(_ query: LedgerQuery) throws -> [StoredEntry] {
    try pool.read { db in
      var lower = Int64(clamping: query.startIndex)
      var upper = Int64.max
      if let from = query.timeFrom { lower = max(lower, try Self.firstIndex(atOrAfter: from, db)) }
      if let to = query.timeTo { upper = try Self.firstIndex(atOrAfter: to, db) }
      var conditions = ["idx >= ?", "idx < ?"]
      var arguments: [any DatabaseValueConvertible] = [lower, upper]
      for (column, value) in Self.filters(query) {
        // The key finds the candidates through the index; the text comparison removes hash collisions.
        conditions.append("\(column)_key = ? AND \(column) = ?")
        arguments.append(FilterKey.of(value))
        arguments.append(value)
      }
      arguments.append(query.limit)
      let sql = "SELECT \(Self.entryColumns) FROM ledger_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx LIMIT ?"
      return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.entry)
    }
  }

  public func firstIndex(atOrAfter time: Int64) throws -> UInt64 {
    try pool.read { db in UInt64(try Self.firstIndex(atOrAfter: time, db)) }
  }

  /// The first index whose time is at or after `time` (the end of the log if none), by bisecting the
  /// primary key: the ledger never lets time decrease along the log. O(log n) point reads.
  private static func firstIndex(atOrAfter time: Int64, _ db: Database) throws -> Int64 {
    guard let last = try Int64.fetchOne(db, sql: "SELECT max(idx) FROM ledger_entries") else { return 0 }
    let timeAt = try db.cachedStatement(sql: "SELECT time FROM ledger_entries WHERE idx >= ? ORDER BY idx LIMIT 1")
    var low: Int64 = 0
    var high = last + 1
    while low < high {
      let middle = low + (high - low) / 2
      let middleTime = try Int64.fetchOne(timeAt, arguments: [middle]) ?? Int64.max
      if middleTime < time { low = middle + 1 } else { high = middle }
    }
    return low
  }

  private static func filters(_ query: LedgerQuery) -> [(String, String)] {
    [("kind", query.kind), ("actor", query.actor), ("action", query.action), ("resource", query.resource), ("outcome", query.outcome)]
      .compactMap { column, value in value.map { (column, $0) } }
  }

  /// The query plan SQLite chooses for `query`, for tests that prove queries use indexes.
  public func queryPlan(_ query: LedgerQuery) throws -> String {
    var conditions = ["idx >= 0", "idx < 1000"]
    for (column, _) in Self.filters(query) { conditions.append("\(column)_key = 1 AND \(column) = 'x'") }
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
