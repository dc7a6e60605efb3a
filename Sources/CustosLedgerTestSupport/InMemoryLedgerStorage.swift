import CustosCrypto
import CustosLedger
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `LedgerStorage` in memory for tests, with fault injection: fail the next write (after a delay, so a
/// batch can be prepared on top of it), hold it until the test releases it (then write it, or fail it
/// after it built its batch), or fail every write from now on, like a disk that fills up.
public final class InMemoryLedgerStorage: LedgerStorage, Sendable {
  private struct State {
    var entries: [StoredEntry] = []
    var nodes: [NodeID: SHA256Digest] = [:]
    var checkpoints: [SignedCheckpoint] = []
    var tip: LedgerTip?
    var idempotency: [IdempotencyKey: IdempotencyRecord] = [:]
    var nextWrite: NextWrite?
    var failAlways = false
    var writes = 0
  }

  /// What happens to the next write, after it sleeps `milliseconds` or waits for `releaseHeldWrite()`.
  private struct NextWrite {
    enum Outcome { case written, failsBeforeBuilding, failsAfterBuilding }
    var milliseconds = 0
    var waitsForRelease = false
    var outcome: Outcome
  }

  private let state = Mutex(State())

  public init() {}

  /// The next write sleeps `milliseconds`, then fails; nothing of it is kept.
  public func failNextWrite(afterMilliseconds milliseconds: Int = 50) {
    state.withLock { $0.nextWrite = NextWrite(milliseconds: milliseconds, outcome: .failsBeforeBuilding) }
  }

  /// The next write waits, before it reads the tip and builds its batch, until `releaseHeldWrite()`;
  /// then it is written, or, `failingAfterBuilding`, fails once its batch is built (a commit that did
  /// not happen), keeping nothing. It waits on the writer's own thread, never on the cooperative pool.
  public func holdNextWrite(failingAfterBuilding: Bool = false) {
    held.withLock { $0 = DispatchSemaphore(value: 0) }
    state.withLock { $0.nextWrite = NextWrite(waitsForRelease: true, outcome: failingAfterBuilding ? .failsAfterBuilding : .written) }
  }

  /// Lets the held write go on (at once when it comes, if it has not begun to wait).
  public func releaseHeldWrite() {
    held.withLock { $0 }?.signal()
  }

  /// The gate of the held write (kept here, since the write takes its `NextWrite` when it begins).
  private let held = Mutex<DispatchSemaphore?>(nil)

  /// Every write from now on fails.
  public func failAllWrites() { state.withLock { $0.failAlways = true } }

  /// Writes attempted so far.
  public var writes: Int { state.withLock { $0.writes } }

  /// Changes a stored entry in place, as damage to the store would (tests of what notices it).
  public func tamper(entryAt index: UInt64, _ change: (inout StoredEntry) -> Void) {
    state.withLock { state in
      if let i = state.entries.firstIndex(where: { $0.index == index }) { change(&state.entries[i]) }
    }
  }

  public func tip() throws -> LedgerTip? { state.withLock { $0.tip } }

  @discardableResult
  public func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? {
    let (next, always) = state.withLock { state -> (NextWrite?, Bool) in
      state.writes += 1
      defer { state.nextWrite = nil }
      return (state.nextWrite, state.failAlways)
    }
    if let next {
      usleep(UInt32(next.milliseconds * 1000))
      if next.waitsForRelease { held.withLock { $0 }?.wait() }
    }
    if always || next?.outcome == .failsBeforeBuilding { throw LedgerError.unavailable("disk full (simulated)") }
    guard let batch = try build(try tip(), try idempotencyRecords(claims)) else { return nil }
    if next?.outcome == .failsAfterBuilding { throw LedgerError.unavailable("the commit failed (simulated)") }
    state.withLock { state in
      state.tip = batch.tip
      for record in batch.idempotencyRecords { state.idempotency[record.key] = record }
      state.entries += batch.entries
      for entry in batch.entries { state.nodes[NodeID(level: 0, index: entry.index)] = entry.leafHash }
      for (id, hash) in batch.closedNodes { state.nodes[id] = hash }
      state.checkpoints.append(batch.checkpoint)
    }
    return batch
  }

  public func idempotencyRecords(_ keys: [IdempotencyKey]) throws -> [IdempotencyKey: IdempotencyRecord] {
    state.withLock { state in keys.reduce(into: [:]) { $0[$1] = state.idempotency[$1] } }
  }

  public func pruneIdempotencyRecords(expiredBy time: Int64) throws -> Int {
    state.withLock { state in
      let expired = state.idempotency.filter { !$0.value.isLive(at: time) }.keys
      for key in expired { state.idempotency[key] = nil }
      return expired.count
    }
  }

  public func latestCheckpoint() throws -> SignedCheckpoint? { state.withLock { $0.checkpoints.last } }

  public func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] {
    state.withLock { $0.checkpoints.filter { sizes.contains($0.checkpoint.size) } }
  }

  public func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] {
    state.withLock { state in Dictionary(uniqueKeysWithValues: Set(ids).compactMap { id in state.nodes[id].map { (id, $0) } }) }
  }

  public func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws {
    for entry in state.withLock({ $0.entries }) where range.contains(entry.index) { guard try body(entry) else { return } }
  }

  public func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk {
    var chunk = EntryBytesChunk()
    try forEachEntry(in: range) { entry in
      entry.canonical.withUnsafeBytes { chunk.append(index: entry.index, canonical: $0, storedLeafHash: entry.leafHash) }
      return true
    }
    return chunk
  }

  public func query(_ query: LedgerQuery) throws -> [StoredEntry] {
    state.withLock { state in
      Array(state.entries.filter { entry in
        entry.index >= query.startIndex && (query.kind.map { $0 == entry.kind } ?? true)
          && (query.actor.map { $0 == entry.actor } ?? true) && (query.action.map { $0 == entry.action } ?? true)
          && (query.resource.map { $0 == entry.resource } ?? true) && (query.outcome.map { $0 == entry.outcome } ?? true)
          && (query.timeFrom.map { entry.time >= $0 } ?? true) && (query.timeTo.map { entry.time < $0 } ?? true)
      }.prefix(query.limit))
    }
  }

  public func firstIndex(atOrAfter time: Int64) throws -> UInt64 {
    state.withLock { state in state.entries.first { $0.time >= time }?.index ?? UInt64(state.entries.count) }
  }
}
