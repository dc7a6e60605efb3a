import CustosCrypto
import CustosLedger
import NIOCore
import PostgresNIO
import Synchronization

/// `LedgerStorage` on PostgreSQL, shared by every node. A batch is built on the log's tip (one row)
/// and written — entries, closed nodes, checkpoint, then the new tip — by one call that updates the
/// tip only if it is still the one the batch was built on, so the tip row is held only from that update
/// to the commit; a call that lost to another node's batch writes nothing and answers the tip that
/// node wrote, to build on next. A batch that loses a few times takes the locking path: it locks the
/// tip and is built on what that holds.
public final class PostgresLedgerStorage: LedgerStorage {
  let store: PostgresStore
  private let nodeCache = Mutex<[NodeID: SHA256Digest]>([:])
  /// Told what became of each attempt to write a batch.
  public let observeTip: @Sendable (TipLockEvent) -> Void

  init(store: PostgresStore, observeTip: @escaping @Sendable (TipLockEvent) -> Void = { _ in }) {
    self.store = store
    self.observeTip = observeTip
  }

  /// The same storage, telling `observe` what became of each attempt to write a batch.
  public func observingTip(_ observe: @escaping @Sendable (TipLockEvent) -> Void) -> PostgresLedgerStorage {
    PostgresLedgerStorage(store: store, observeTip: observe)
  }

  /// The tip this node last wrote or was told of: the guess the one-call path is built on.
  private let knownTip = Mutex<LedgerTip??>(nil)

  @discardableResult
  public func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    // Idempotency keys read before the write are complete if the write succeeds: keys are only ever
    // written with entries, so with the tip unmoved none was added since.
    var guess = knownTip.withLock { $0 }
    for _ in 0..<Self.optimisticAttempts {
      guard let expected = guess else { break }
      guard let batch = try build(expected, try idempotencyRecords(claims)) else { return nil }
      try LedgerBatchCheck.fits(batch, on: expected)
      switch try write(batch, onTip: expected) {
      case .written:
        knownTip.withLock { $0 = .some(batch.tip) }
        return batch
      case .lost(let stored):
        observeTip(.lost)
        knownTip.withLock { $0 = .some(stored) }
        // An unmoved tip means the write failed for another reason (a conflicting row): the locking
        // path below names it.
        guess = stored == expected ? nil : .some(stored)
      }
    }
    let batch = try appendBatchLockingTip(claims, build)
    if let batch { knownTip.withLock { $0 = .some(batch.tip) } }
    return batch
  }

  /// One-call writes tried before the batch takes the locking path.
  static let optimisticAttempts = 8

  /// The advisory lock that keeps the two paths from deadlocking: a one-call write holds it shared from
  /// its start to its commit, the locking path exclusively. So no one-call write holds rows while it
  /// waits for a tip row that a batch on the locking path holds while it writes the same indexes.
  static let gateKey = PostgresMigrations.writeGateKey

  /// Writes `batch` if the stored tip is `expected`.
  private func write(_ batch: LedgerBatch, onTip expected: LedgerTip?) throws -> WriteBatch.Answer {
    let logger = store.logger, observe = observeTip
    return try store.withConnection { connection in
      let clock = ContinuousClock()
      let start = clock.now
      var answer: WriteBatch.Answer?
      for try await row in try await connection.execute(WriteBatch(batch: batch, onTip: .some(expected)), logger: logger) {
        answer = row
      }
      guard let answer else { throw LedgerError.corrupted(index: 0, reason: "the database answered a batch's write with no row") }
      if case .written(let phases) = answer {
        observe(.committed(wait: phases.waitedForTip, hold: phases.heldTip(total: clock.now - start), lockedFirst: false))
      }
      return answer
    }
  }

  /// The locking path: close the gate, lock the tip row, build on what it holds, write, commit.
  private func appendBatchLockingTip(
    _ claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    let logger = store.logger
    let observe = observeTip
    typealias Question = (LedgerTip?, [IdempotencyKey: IdempotencyRecord])
    return try store.withConnection({ (connection, buildOnTip: @escaping @Sendable (Question) async throws -> LedgerBatch?) in
      let clock = ContinuousClock()
      let asked = clock.now
      _ = try await connection.rows("BEGIN", logger)
      do {
        // The gate first (waiting for one-call writes in flight to end), then the tip row.
        _ = try await connection.rows("SELECT pg_advisory_xact_lock(\(Self.gateKey))", logger)
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
        for try await _ in try await connection.execute(WriteBatch(batch: batch, onTip: nil), logger: logger) {}
        _ = try await connection.rows("COMMIT", logger)
        observe(.committed(wait: locked - asked, hold: clock.now - locked, lockedFirst: true))
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

  /// Everything a batch writes, in one call of `custos_write_batch` (migration v8 installs it): the
  /// entries, the closed nodes, the checkpoint and the idempotency records inserted from arrays, and
  /// only then the tip row updated — so the row every node's batch waits for is held from that update
  /// to the commit, not while the rows and their indexes are written. Prepared once per connection.
  struct WriteBatch: PostgresPreparedStatement {
    let batch: LedgerBatch
    /// `.some(tip)`: write only onto this tip (nil: an empty log), through the gate; a lost race is
    /// answered, not raised. Nil: the locking path, which holds the gate and the tip row already.
    let onTip: LedgerTip??

    /// Where the call's time went, as the server measured it.
    struct Phases {
      /// Microseconds from the call's start until its rows were written (waits on another writer's
      /// rows at the same indexes, and on the gate, included).
      var rowsWritten: Int64
      /// Microseconds from then until it held the tip row.
      var waited: Int64

      var waitedForTip: Duration { .microseconds(max(0, waited)) }

      /// The rest of `total` (the call as the node timed it): the tip row held to the commit's answer,
      /// with the network round trip included — an upper bound on the hold.
      func heldTip(total: Duration) -> Duration {
        let before = Duration.microseconds(max(0, rowsWritten) + max(0, waited))
        return total > before ? total - before : .zero
      }
    }

    enum Answer {
      case written(Phases)
      /// Another writer's rows took this batch's indexes (it waited for their commit) or the tip moved:
      /// nothing written, and the tip as it now is.
      case lost(LedgerTip?)
    }

    typealias Row = Answer
    static let sql = "SELECT * FROM custos_write_batch(\((1...31).map { "$\($0)" }.joined(separator: ", ")))"

    func decodeRow(_ row: PostgresRow) throws -> Answer {
      let (written, rowsWritten, waited, size, range, last, time, note) =
        try row.decode((Bool, Int64, Int64, Int64?, ByteBuffer?, ByteBuffer?, Int64?, String?).self)
      if written { return .written(Phases(rowsWritten: rowsWritten, waited: waited)) }
      guard let size, let range, let last, let time, let note else {
        throw LedgerError.corrupted(index: 0, reason: "the ledger_tip row is missing")
      }
      return .lost(try PostgresLedgerStorage.tip(size: size, range: range, last: last, time: time, note: note))
    }

    /// $1...$9 the entries' columns, $10...$12 the closed nodes, $13...$15 the checkpoint, $16...$20 the tip,
    /// $21...$27 the idempotency records, $28 whether to write only onto $29...$31 (the expected tip).
    func makeBindings() throws -> PostgresBindings {
      var binds = PostgresBindings(capacity: 31)
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
      binds.append(onTip != nil)
      let expected = onTip ?? nil
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
    return try tip(size: size, range: range, last: last, time: time, note: note)
  }

  fileprivate static func tip(size: Int64, range: ByteBuffer, last: ByteBuffer, time: Int64, note: String) throws -> LedgerTip? {
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
