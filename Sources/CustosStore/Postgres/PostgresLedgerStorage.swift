import CustosCrypto
import CustosLedger
import NIOCore
import PostgresNIO
import Synchronization

/// `LedgerStorage` on PostgreSQL, shared by every node: a batch is built on the log's tip (one row) and
/// written — entries, closed nodes, checkpoint and new tip — by one statement that updates the tip only
/// if it is still the one the batch was built on; after losing to other writers a few times, it locks the
/// tip row (`SELECT ... FOR UPDATE`) and is built on what that holds.
public final class PostgresLedgerStorage: LedgerStorage {
  let store: PostgresStore
  private let nodeCache = Mutex<[NodeID: SHA256Digest]>([:])
  /// Called after each committed batch with how long the tip lock was waited for and held.
  public let lockTimings: @Sendable (_ wait: Duration, _ hold: Duration) -> Void

  init(store: PostgresStore, lockTimings: @escaping @Sendable (Duration, Duration) -> Void = { _, _ in }) {
    self.store = store
    self.lockTimings = lockTimings
  }

  /// The same storage, reporting the tip lock's wait and hold time of every batch to `observe`.
  public func observingLock(_ observe: @escaping @Sendable (_ wait: Duration, _ hold: Duration) -> Void) -> PostgresLedgerStorage {
    PostgresLedgerStorage(store: store, lockTimings: observe)
  }

  /// The tip this node last wrote or read: the guess the one-statement fast path is built on.
  private let knownTip = Mutex<LedgerTip??>(nil)

  @discardableResult
  public func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    // Optimistic path: build on the tip this node last saw (first) or has just read (after another node
    // wrote), and write it with one statement only if that is still the stored tip — checked and locked
    // by the statement itself, so the tip row is locked only while that statement runs and commits.
    // With one node the first attempt always succeeds. Idempotency keys read before the write are
    // complete if the write succeeds: keys are only ever written with entries, so with the tip unmoved
    // none was added since.
    var guess = knownTip.withLock { $0 }
    for _ in 0..<Self.optimisticAttempts {
      guard let expected = guess else { break }
      guard let batch = try build(expected, try idempotencyRecords(claims)) else { return nil }
      try LedgerBatchCheck.fits(batch, on: expected)
      if try writeIfTipIs(expected, batch) {
        knownTip.withLock { $0 = .some(batch.tip) }
        return batch
      }
      guess = .some(try tip())
    }
    let batch = try appendBatchLockingTip(claims, build)
    if let batch { knownTip.withLock { $0 = .some(batch.tip) } }
    return batch
  }

  /// Optimistic writes tried before the batch locks the tip row (each costs a tip read when it loses).
  static let optimisticAttempts = 3

  /// Writes `batch` if the stored tip is `expected`; false (nothing written) if another writer moved it.
  private func writeIfTipIs(_ expected: LedgerTip?, _ batch: LedgerBatch) throws -> Bool {
    let logger = store.logger, timings = lockTimings
    return try store.withConnection { connection in
      let clock = ContinuousClock()
      let start = clock.now
      var written = false
      var waited = Duration.zero
      for try await (count, waitedMicroseconds) in try await connection.execute(
        ConditionalBatchInsert(batch: batch, expected: expected), logger: logger)
      {
        written = count == 1
        waited = .microseconds(waitedMicroseconds)
      }
      // The statement waits inside itself while another node's commit holds the row; the server says
      // how long (from the statement's start to the row's update), and only the rest is holding it.
      if written {
        let total = clock.now - start
        timings(min(waited, total), total - min(waited, total))
      }
      return written
    }
  }

  /// The general path: lock the tip row, build on what it holds, write, commit.
  private func appendBatchLockingTip(
    _ claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    let logger = store.logger
    let timings = lockTimings
    typealias Question = (LedgerTip?, [IdempotencyKey: IdempotencyRecord])
    return try store.withConnection({ (connection, buildOnTip: @escaping @Sendable (Question) async throws -> LedgerBatch?) in
      let clock = ContinuousClock()
      let asked = clock.now
      _ = try await connection.rows("BEGIN", logger)
      do {
        let tipRows = try await connection.rows(
          "SELECT size, range_hashes, last_leaf_hash, last_time, checkpoint_note FROM ledger_tip WHERE id = 1 FOR UPDATE", logger)
        let locked = clock.now
        let stored = try Self.tip(tipRows.first)
        let records = claims.isEmpty ? [:] : try Self.idempotencyRecords(try await connection.rows(Self.selectRecords(claims), logger))
        guard let batch = try await buildOnTip((stored, records)) else {
          _ = try await connection.rows("ROLLBACK", logger)
          return nil
        }
        try LedgerBatchCheck.fits(batch, on: stored)
        for try await _ in try await connection.execute(BatchInsert(batch: batch), logger: logger) {}
        _ = try await connection.rows("COMMIT", logger)
        timings(locked - asked, clock.now - locked)
        return batch
      } catch {
        _ = try? await connection.rows("ROLLBACK", logger)
        throw error
      }
    }, answering: { question in try build(question.0, question.1) })
  }

  public func idempotencyRecords(_ claims: [IdempotencyKey]) throws -> [IdempotencyKey: IdempotencyRecord] {
    guard !claims.isEmpty else { return [:] }
    return try Self.idempotencyRecords(try store.rows(Self.selectRecords(claims)))
  }

  private static func selectRecords(_ claims: [IdempotencyKey]) -> PostgresQuery {
    """
    SELECT k.caller, k.key, k.fingerprint, k.response, k.expires_at, k.first_index, k.entry_count FROM idempotency_keys k
    JOIN unnest(\(claims.map(\.caller))::text[], \(claims.map(\.key))::text[]) AS w(caller, key) ON k.caller = w.caller AND k.key = w.key
    """
  }

  private static func idempotencyRecords(_ rows: [PostgresRow]) throws -> [IdempotencyKey: IdempotencyRecord] {
    var found: [IdempotencyKey: IdempotencyRecord] = [:]
    for row in rows {
      let (caller, key, fingerprint, response, expiresAt, first, count) = try row.decode(
        (String, String, ByteBuffer, ByteBuffer, Int64, Int64, Int32).self)
      guard let digest = SHA256Digest(bytes: Array(buffer: fingerprint)) else {
        throw LedgerError.corrupted(index: UInt64(first), reason: "the stored fingerprint of idempotency_key \"\(key)\" is not 32 bytes")
      }
      let id = IdempotencyKey(caller: caller, key: key)
      found[id] = IdempotencyRecord(
        key: id, fingerprint: digest, response: Array(buffer: response), expiresAt: expiresAt, firstIndex: UInt64(first),
        entryCount: UInt32(count))
    }
    return found
  }

  public func pruneIdempotencyRecords(expiredBy time: Int64) throws -> Int {
    try store.rows("WITH gone AS (DELETE FROM idempotency_keys WHERE expires_at <= \(time) RETURNING 1) SELECT count(*) FROM gone")
      .first.map { Int(try $0.decode(Int64.self)) } ?? 0
  }

  /// Everything a batch writes, as one statement under the tip lock the caller holds: the tip row
  /// updated, and the entries, the closed nodes and the checkpoint inserted from arrays. Prepared once per
  /// connection: the statement is planned once.
  struct BatchInsert: PostgresPreparedStatement {
    let batch: LedgerBatch

    typealias Row = (Int64, Int64)
    static let sql = BatchInsert.text(tipCondition: "")
    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int64) { try row.decode((Int64, Int64).self) }
    func makeBindings() throws -> PostgresBindings { Self.bindings(batch) }

    /// $1...$9 the entries' columns, $10...$12 the closed nodes, $13...$15 the checkpoint, $16...$20 the tip,
    /// $21...$27 the idempotency records.
    static func bindings(_ batch: LedgerBatch) -> PostgresBindings {
      var binds = PostgresBindings(capacity: 30)
      appendEntryColumns(batch.entries, to: &binds)
      binds.append(batch.closedNodes.map { Int16($0.0.level) })
      binds.append(batch.closedNodes.map { Int64($0.0.index) })
      binds.append(batch.closedNodes.map { ByteBuffer(bytes: $0.1.bytes) })
      let checkpoint = batch.checkpoint
      binds.append(Int64(checkpoint.checkpoint.size))
      binds.append(ByteBuffer(bytes: checkpoint.checkpoint.rootHash.bytes))
      binds.append(checkpoint.note)
      let tip = StoredTipColumns(batch.tip)
      binds.append(tip.size)
      binds.append(ByteBuffer(bytes: tip.rangeHashes))
      binds.append(ByteBuffer(bytes: tip.lastLeafHash))
      binds.append(tip.lastTime)
      binds.append(tip.checkpointNote)
      let records = batch.idempotencyRecords
      binds.append(records.map(\.key.caller))
      binds.append(records.map(\.key.key))
      binds.append(records.map { ByteBuffer(bytes: $0.fingerprint.bytes) })
      binds.append(records.map { ByteBuffer(bytes: $0.response) })
      binds.append(records.map(\.expiresAt))
      binds.append(records.map { Int64($0.firstIndex) })
      binds.append(records.map { Int32($0.entryCount) })
      return binds
    }

    static func text(tipCondition: String) -> String {
      """
      WITH tip AS (
        UPDATE ledger_tip SET size = $16, range_hashes = $17, last_leaf_hash = $18, last_time = $19, checkpoint_note = $20
        WHERE id = 1\(tipCondition) RETURNING clock_timestamp() AS locked_at
      ), entries AS (
        \(insertEntriesSQL) WHERE EXISTS (SELECT 1 FROM tip)
      ), nodes AS (
        INSERT INTO ledger_nodes (level, idx, hash) SELECT * FROM unnest($10::smallint[], $11::bigint[], $12::bytea[])
        WHERE EXISTS (SELECT 1 FROM tip)
      ), checkpoint AS (
        INSERT INTO ledger_checkpoints (size, root_hash, note) SELECT $13, $14, $15 WHERE EXISTS (SELECT 1 FROM tip)
      ), keys AS (
        INSERT INTO idempotency_keys (caller, key, fingerprint, response, expires_at, first_index, entry_count)
        SELECT * FROM unnest($21::text[], $22::text[], $23::bytea[], $24::bytea[], $25::bigint[], $26::bigint[], $27::integer[])
        WHERE EXISTS (SELECT 1 FROM tip)
        ON CONFLICT (caller, key) DO UPDATE SET fingerprint = excluded.fingerprint, response = excluded.response,
          expires_at = excluded.expires_at, first_index = excluded.first_index, entry_count = excluded.entry_count
      )
      SELECT count(*), COALESCE((EXTRACT(EPOCH FROM max(locked_at) - statement_timestamp()) * 1000000)::bigint, 0) FROM tip
      """
    }
  }

  /// `BatchInsert` only onto the tip the node expects (the one-statement path), answering 1 if it
  /// wrote and 0 if another writer had moved the tip (then nothing is written).
  struct ConditionalBatchInsert: PostgresPreparedStatement {
    let batch: LedgerBatch
    /// Nil: an empty log.
    let expected: LedgerTip?

    /// 1 if it wrote, and the microseconds the statement waited for the tip row.
    typealias Row = (Int64, Int64)
    // The whole row as this node knows it: any other change sends the batch through the checked path.
    static let sql = BatchInsert.text(tipCondition: " AND size = $28 AND last_leaf_hash = $29 AND checkpoint_note = $30")
    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int64) { try row.decode((Int64, Int64).self) }

    func makeBindings() throws -> PostgresBindings {
      var binds = BatchInsert.bindings(batch)
      binds.append(Int64(expected?.size ?? 0))
      binds.append(ByteBuffer(bytes: expected?.lastLeafHash.bytes ?? []))
      binds.append(expected?.checkpointNote ?? "")
      return binds
    }
  }

  /// Inserts entries from the nine column arrays bound as $1...$9 (`appendEntryColumns`).
  static let insertEntriesSQL = """
    INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome)
    SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
    """

  static func appendEntryColumns(_ entries: [StoredEntry], to binds: inout PostgresBindings) {
    binds.append(entries.map { Int64($0.index) })
    binds.append(entries.map { ByteBuffer(bytes: $0.canonical) })
    binds.append(entries.map { ByteBuffer(bytes: $0.leafHash.bytes) })
    binds.append(entries.map(\.time))
    binds.append(entries.map(\.kind))
    binds.append(entries.map(\.actor))
    binds.append(entries.map(\.action))
    binds.append(entries.map(\.resource))
    binds.append(entries.map(\.outcome))
  }

  public func tip() throws -> LedgerTip? {
    try Self.tip(try store.rows("SELECT size, range_hashes, last_leaf_hash, last_time, checkpoint_note FROM ledger_tip WHERE id = 1").first)
  }

  private static func tip(_ row: PostgresRow?) throws -> LedgerTip? {
    guard let row else { throw LedgerError.corrupted(index: 0, reason: "the ledger_tip row is missing") }
    let (size, range, last, time, note) = try row.decode((Int64, ByteBuffer, ByteBuffer, Int64, String).self)
    guard size > 0 else { return nil }
    return try StoredTipColumns(
      size: size, rangeHashes: Array(buffer: range), lastLeafHash: Array(buffer: last), lastTime: time, checkpointNote: note
    ).tip()
  }

  public func latestCheckpoint() throws -> SignedCheckpoint? {
    try store.rows("SELECT size, root_hash, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").first.map(Self.checkpoint)
  }

  public func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] {
    let low = Int64(clamping: sizes.lowerBound), high = Int64(clamping: sizes.upperBound)
    return try store.rows("SELECT size, root_hash, note FROM ledger_checkpoints WHERE size BETWEEN \(low) AND \(high) ORDER BY size")
      .map(Self.checkpoint)
  }

  public func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] {
    var result: [NodeID: SHA256Digest] = [:]
    var missing: Set<NodeID> = []
    nodeCache.withLock { cache in
      for id in ids where result[id] == nil {
        if let hash = cache[id] { result[id] = hash } else { missing.insert(id) }
      }
    }
    guard !missing.isEmpty else { return result }
    let leaves = missing.filter { $0.level == 0 }.map { Int64($0.index) }
    let nodes = missing.filter { $0.level > 0 }
    let levels = nodes.map { Int16($0.level) }, indexes = nodes.map { Int64($0.index) }
    let rows = try store.rows("""
      SELECT 0::smallint, idx, leaf_hash FROM ledger_entries WHERE idx = ANY(\(leaves))
      UNION ALL
      SELECT n.level, n.idx, n.hash FROM ledger_nodes n JOIN unnest(\(levels)::smallint[], \(indexes)::bigint[]) AS w(level, idx)
        ON n.level = w.level AND n.idx = w.idx
      """)
    var found: [NodeID: SHA256Digest] = [:]
    for row in rows {
      let (level, index, hash) = try row.decode((Int16, Int64, ByteBuffer).self)
      if let digest = SHA256Digest(bytes: Array(buffer: hash)) { found[NodeID(level: UInt8(level), index: UInt64(index))] = digest }
    }
    // Interior nodes never change once written, and the high ones are shared by every proof.
    nodeCache.withLock { cache in
      for (id, hash) in found where id.level >= 6 && cache.count < 1 << 20 { cache[id] = hash }
    }
    result.merge(found) { a, _ in a }
    return result
  }

  /// Entries are read in pages of this many rows.
  static let pageSize: UInt64 = 2048

  public func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws {
    var lower = range.lowerBound
    while lower < range.upperBound {
      let upper = min(range.upperBound, lower + Self.pageSize)
      let (low, high) = (Int64(clamping: lower), Int64(clamping: upper))
      let rows = try store.rows("SELECT \(unescaped: Self.entryColumns) FROM ledger_entries WHERE idx >= \(low) AND idx < \(high) ORDER BY idx")
      for row in rows {
        guard try body(try Self.entry(row)) else { return }
      }
      lower = upper
    }
  }

  public func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk {
    guard !range.isEmpty else { return EntryBytesChunk() }
    let (low, high) = (Int64(clamping: range.lowerBound), Int64(clamping: range.upperBound))
    let rows = try store.rows("SELECT idx, canonical, leaf_hash FROM ledger_entries WHERE idx >= \(low) AND idx < \(high) ORDER BY idx")
    var chunk = EntryBytesChunk(reservingEntries: rows.count, bytes: rows.count * 320)
    for row in rows {
      let (index, canonical, leaf) = try row.decode((Int64, ByteBuffer, ByteBuffer).self)
      let digest = SHA256Digest(bytes: Array(buffer: leaf)) ?? .zero
      canonical.withUnsafeReadableBytes { chunk.append(index: UInt64(index), canonical: $0, storedLeafHash: digest) }
    }
    return chunk
  }

  public func query(_ query: LedgerQuery) throws -> [StoredEntry] {
    var lower = Int64(clamping: query.startIndex)
    var upper = Int64.max
    if let from = query.timeFrom { lower = max(lower, Int64(clamping: try firstIndex(atOrAfter: from))) }
    if let to = query.timeTo { upper = Int64(clamping: try firstIndex(atOrAfter: to)) }
    var binds = PostgresBindings()
    binds.append(lower)
    binds.append(upper)
    var conditions = ["idx >= $1", "idx < $2"]
    for (column, value) in Self.filters(query) {
      binds.append(value)
      conditions.append("\(column) = $\(binds.count)")
    }
    binds.append(Int64(query.limit))
    let sql = "SELECT \(Self.entryColumns) FROM ledger_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx LIMIT $\(binds.count)"
    return try store.rows(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.entry)
  }

  public func firstIndex(atOrAfter time: Int64) throws -> UInt64 {
    let rows = try store.rows("""
      SELECT coalesce((SELECT idx FROM ledger_entries WHERE time >= \(time) ORDER BY time, idx LIMIT 1),
                      (SELECT size FROM ledger_tip WHERE id = 1))
      """)
    return UInt64(try rows.first?.decode(Int64.self) ?? 0)
  }

  /// The plan PostgreSQL chooses for `query`, for tests that prove queries use indexes.
  public func queryPlan(_ query: LedgerQuery) throws -> String {
    var conditions = ["idx >= 0", "idx < 1000"]
    for (column, _) in Self.filters(query) { conditions.append("\(column) = 'x'") }
    let sql = "EXPLAIN SELECT idx FROM ledger_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx LIMIT 10"
    return try store.transaction { connection in
      // A small table is scanned whatever the indexes: ask for the plan a large one would get.
      _ = try await connection.rows("SET LOCAL enable_seqscan = off", self.store.logger)
      return try await connection.rows(PostgresQuery(unsafeSQL: sql), self.store.logger).map { try $0.decode(String.self) }
        .joined(separator: "; ")
    }
  }

  private static func filters(_ query: LedgerQuery) -> [(String, String)] {
    [("kind", query.kind), ("actor", query.actor), ("action", query.action), ("resource", query.resource), ("outcome", query.outcome)]
      .compactMap { column, value in value.map { (column, $0) } }
  }

  private static let entryColumns = "idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome"

  private static func entry(_ row: PostgresRow) throws -> StoredEntry {
    let (index, canonical, leaf, time, kind, actor, action, resource, outcome) =
      try row.decode((Int64, ByteBuffer, ByteBuffer, Int64, String, String, String, String, String).self)
    return StoredEntry(
      index: UInt64(index), canonical: Array(buffer: canonical), leafHash: SHA256Digest(bytes: Array(buffer: leaf)) ?? .zero,
      time: time, kind: kind, actor: actor, action: action, resource: resource, outcome: outcome)
  }

  private static func checkpoint(_ row: PostgresRow) throws -> SignedCheckpoint {
    let (size, root, note) = try row.decode((Int64, ByteBuffer, String).self)
    return SignedCheckpoint(
      checkpoint: Checkpoint(origin: "", size: UInt64(size), rootHash: SHA256Digest(bytes: Array(buffer: root)) ?? .zero), note: note)
  }
}
