import CustosCrypto
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The append-only, hash-chained, Merkle-verifiable audit ledger.
///
/// One writer: appends are queued and drained in group commits — one storage transaction, one fsync and
/// one signed checkpoint per batch — and each caller resumes only when its own batch is durable. While a
/// batch is being written, new appends gather into the next one, so batches grow with load without any
/// timer. Reads go straight to storage.
public actor Ledger {
  /// Settings fixed for the life of a ledger.
  public struct Options: Sendable {
    public var limits = LedgerEvent.Limits()
    /// Most entries written in one group commit.
    public var maximumBatchEntries = 8192
    /// Nanoseconds since the epoch; injectable for tests.
    public var clock: @Sendable () -> Int64 = { wallClockNanoseconds() }

    public init() {}
  }

  public nonisolated let storage: any LedgerStorage
  /// The key checkpoints verify with; nil only while a new, empty ledger waits for its first key.
  public nonisolated var verifier: NoteVerifier? { verifierKey.withLock { $0 } }
  private let verifierKey: Mutex<NoteVerifier?>
  /// Nil while the signing key is sealed: the ledger then serves reads and refuses appends.
  private var signer: NoteSigner? {
    didSet { fingerprintKey.withLock { $0 = Self.fingerprintKey(signer) } }
  }
  /// Keys request fingerprints (so a stored fingerprint says nothing about a low-entropy plaintext);
  /// read without the actor, since every keyed request needs it.
  private let fingerprintKey: Mutex<SecretBytes?>

  private static func fingerprintKey(_ signer: NoteSigner?) -> SecretBytes? {
    signer?.derivedKey(info: "custos idempotency request fingerprint v1")
  }
  private let options: Options
  private var head: LedgerHead
  private let pending = Mutex(PendingAppends())
  /// Appends waiting for a batch (tests wait on it).
  nonisolated var waitingAppendCount: Int { pending.withLock { $0.waiting.count } }
  private var draining = false
  private let writer = DispatchQueue(label: "custos.ledger.writer")

  /// Opens the ledger on `storage`, checking the stored tree against the latest signed checkpoint.
  public init(storage: any LedgerStorage, signer: NoteSigner, options: Options = Options()) throws(LedgerError) {
    try self.init(storage: storage, verifier: signer.verifier, signer: signer, options: options)
  }

  /// Opens the ledger on `storage` with the verifier key its checkpoints are checked against, and the
  /// signer when it is at hand; without one the ledger refuses appends until `install(_:)`. Without a
  /// verifier either (a new deployment whose key is not made yet) the store must be empty.
  public init(storage: any LedgerStorage, verifier: NoteVerifier?, signer: NoteSigner?, options: Options = Options()) throws(LedgerError) {
    if let signer, let verifier, signer.verifier != verifier {
      throw .invalidArgument("the signing key is not the key this ledger's checkpoints verify with (\(verifier.verifierKey))")
    }
    let known = verifier ?? signer?.verifier
    self.storage = storage
    self.signer = signer
    self.fingerprintKey = Mutex(Self.fingerprintKey(signer))
    self.verifierKey = Mutex(known)
    self.options = options
    if let known {
      self.head = try LedgerHead.load(from: storage, verifier: known)
    } else {
      let stored: SignedCheckpoint?
      do { stored = try storage.latestCheckpoint() } catch { throw .unavailable("cannot read the ledger: \(error)") }
      guard stored == nil else { throw .invalidArgument("the ledger holds signed checkpoints but no verifier key is known for them") }
      self.head = LedgerHead()
    }
  }

  /// Whether the ledger can sign checkpoints, so append.
  public var canSign: Bool { signer != nil }

  /// Gives the ledger its signing key (once the root key it is sealed under is unsealed). The key must be
  /// the one the stored checkpoints verify with; a ledger that had no verifier yet takes this key's and
  /// reads the head another writer may have stored meanwhile.
  public func install(_ signer: NoteSigner) throws(LedgerError) {
    if let verifier {
      guard signer.verifier == verifier else {
        throw .invalidArgument("the signing key is not the key this ledger's checkpoints verify with (\(verifier.verifierKey))")
      }
    } else {
      head = try LedgerHead.load(from: storage, verifier: signer.verifier)
      verifierKey.withLock { $0 = signer.verifier }
    }
    self.signer = signer
  }

  /// Forgets the signing key (the root key was sealed): appends are refused until `install(_:)`.
  public func removeSigner() {
    signer = nil
  }

  /// The ledger key's signer, for what else it signs (evidence manifests); unavailable while sealed.
  public func activeSigner() throws(LedgerError) -> NoteSigner {
    guard let signer else { throw Self.sealed }
    return signer
  }

  /// The fingerprint of a request for its idempotency record: HMAC-SHA256 under a key derived from the
  /// ledger key, the same on every node sharing it. Unavailable while sealed.
  public nonisolated func requestFingerprint(_ bytes: [UInt8]) throws(LedgerError) -> SHA256Digest {
    guard let key = fingerprintKey.withLock({ $0 }) else { throw Self.sealed }
    return HMACSHA256.authenticationCode(key: key, message: bytes)
  }

  /// The receipts of the entries a stored idempotency record names.
  static func receipts(of record: IdempotencyRecord, in storage: any LedgerStorage) throws -> [LedgerReceipt] {
    var receipts: [LedgerReceipt] = []
    let range = record.firstIndex..<(record.firstIndex + UInt64(record.entryCount))
    try storage.forEachEntry(in: range) { entry in
      receipts.append(LedgerReceipt(index: entry.index, leafHash: entry.leafHash, time: entry.time))
      return true
    }
    guard receipts.count == Int(record.entryCount) else {
      throw LedgerError.corrupted(index: record.firstIndex, reason: "the entries of \(record.key) are missing")
    }
    return receipts
  }

  static let sealed = LedgerError.unavailable(
    "the ledger cannot sign checkpoints while its key is sealed: unseal the root key (custos operator unseal)")

  /// The number of durable entries.
  public var size: UInt64 { head.size }

  /// The latest signed checkpoint, or nil while the ledger is empty.
  public var latestCheckpoint: SignedCheckpoint? { head.checkpoint }

  /// Validates `event` against the limits and encodes it, without appending it.
  public nonisolated func validate(_ event: LedgerEvent) throws(LedgerError) -> EncodedEvent {
    try event.validate(limits: options.limits)
    let encoded = EncodedEvent(event)
    guard encoded.maximumEntryBytes <= options.limits.maximumEntryBytes else {
      throw .invalidArgument("event encodes to \(encoded.maximumEntryBytes) bytes, over the limit of \(options.limits.maximumEntryBytes)")
    }
    return encoded
  }

  /// Appends `events` in order, atomically, returning once they are durable.
  /// Throws `invalidArgument` (nothing written) or `unavailable` (nothing acknowledged).
  public func append(_ events: [LedgerEvent]) async throws -> [LedgerReceipt] {
    switch try await append(events, claim: nil) {
    case let .recorded(receipts), let .replayed(_, receipts): return receipts
    }
  }

  /// Appends `events` in order, atomically, once per idempotency key: if `claim`'s key was recorded
  /// before and is live, nothing is written and the stored record comes back with the receipts of the
  /// entries it recorded; while a request with the same key is being written, this one waits for it.
  /// The claim is stored in the same transaction as the entries.
  public func append(_ events: [LedgerEvent], claim: IdempotencyClaim?) async throws -> AppendOutcome {
    guard !events.isEmpty else { return .recorded([]) }
    guard signer != nil else { throw Self.sealed }
    var encoded: [EncodedEvent] = []
    encoded.reserveCapacity(events.count)
    for (i, event) in events.enumerated() {
      do { encoded.append(try validate(event)) } catch let LedgerError.invalidArgument(why) {
        throw LedgerError.invalidArgument(events.count == 1 ? why : "events[\(i)]: \(why)")
      }
    }
    return try await withCheckedThrowingContinuation { continuation in
      pending.withLock { $0.enqueue(PendingAppend(events: encoded, claim: claim, continuation: continuation)) }
      if !draining {
        draining = true
        Task { await self.drain() }
      }
    }
  }

  /// Appends one event.
  public func append(_ event: LedgerEvent) async throws -> LedgerReceipt {
    try await append([event])[0]
  }

  /// A batch whose entries, tree nodes and checkpoint are computed, ready to be written.
  private struct PreparedBatch: Sendable {
    var requests: [PendingAppend]
    var signer: NoteSigner
    /// Per request: its receipts, or the record it is a retry of (receipts read once written).
    var outcomes: [AppendOutcome]
    /// Nil when every request is a retry: nothing to write.
    var batch: LedgerBatch?
    /// The head the batch was built on, and the head once it is durable.
    var base: LedgerHead
    var head: LedgerHead

    var claims: [IdempotencyKey] { requests.compactMap(\.claim?.key) }
    var entryCount: Int { requests.reduce(0) { $0 + $1.events.count } }
  }

  /// A batch that was not made durable, with every request it held by then.
  private struct FailedWrite: Error {
    var error: any Error
    var requests: [PendingAppend]
  }

  /// Drains the queue in group commits, pipelined: while one batch is being written, the next is
  /// prepared (encoded, hashed, signed) on top of it, so CPU work overlaps the fsync. A batch is
  /// prepared on the head this node expects; if the store's tip is elsewhere when the batch is written
  /// (another node sharing the database appended meanwhile), or one of its idempotency keys is stored
  /// already, it is rebuilt inside the store's write, and takes in what arrived meanwhile.
  private func drain() async {
    var inFlight: (prepared: PreparedBatch, write: Task<Result<PreparedBatch, FailedWrite>, Never>)?
    while !pending.withLock({ $0.isEmpty }) || inFlight != nil {
      var prepared: PreparedBatch?
      if let signer {
        let taken = pending.withLock { $0.takeBatch(maximumEntries: options.maximumBatchEntries) }
        if !taken.isEmpty { prepared = prepare(taken, on: inFlight?.prepared.head ?? head, signer: signer, stored: [:]) }
      } else if inFlight == nil {
        // Sealed while these waited: nothing of them was written.
        for request in pending.withLock({ $0.removeAll() }) { request.continuation.resume(throwing: Self.sealed) }
      }
      if let flight = inFlight {
        inFlight = nil
        switch await flight.write.value {
        case let .success(written):
          head = written.head
          pending.withLock { $0.answered(written.requests) }
          for (request, outcome) in zip(written.requests, written.outcomes) {
            request.continuation.resume(returning: outcome)
          }
          // Rebuilt on another node's appends: the next batch sits on a head that never was, so its
          // requests go back to the queue and are taken again on the real head, with what arrived.
          if let next = prepared, !next.base.isAt(written.head.tip) {
            pending.withLock { $0.requeue(next.requests) }
            prepared = nil
          }
        case let .failure(failed):
          let unavailable = LedgerError.unavailable("the ledger could not make the entries durable: \(failed.error)")
          pending.withLock { $0.answered(failed.requests) }
          for request in failed.requests { request.continuation.resume(throwing: unavailable) }
          // The next batch was built on this one: return its callers to the queue, unanswered.
          if let next = prepared { pending.withLock { $0.requeue(next.requests) } }
          prepared = nil
          // A failed commit may or may not have reached the disk. Nothing needs to be known here: the
          // next batch is built on the stored tip if this head is not where it is. While storage stays
          // away, each batch fails on its own and the ledger writes again as soon as it is back.
          if let verifier, let stored = try? LedgerHead.load(from: storage, verifier: verifier) { head = stored }
        }
      }
      if let prepared {
        let storage = self.storage, writer = self.writer
        let write = Task {
          await withCheckedContinuation { continuation in
            writer.async { continuation.resume(returning: self.write(prepared, to: storage)) }
          }
        }
        inFlight = (prepared, write)
      } else if inFlight == nil, signer != nil, pending.withLock({ !$0.isEmpty && $0.onlyRetriesOfClaimsInFlight }) {
        // Cannot happen (a waiting retry's original is in flight), but never spin if it did.
        break
      }
    }
    draining = false
  }

  /// Writes `prepared`, or the same requests rebuilt on the stored tip and idempotency records if the
  /// batch was not built on them; then reads the receipts of the requests that were retries. A rebuilt
  /// batch takes in the appends without an idempotency key that arrived while it was written: under
  /// contention from other nodes they would otherwise wait a whole round more, and batches stay small.
  private nonisolated func write(_ prepared: PreparedBatch, to storage: any LedgerStorage) -> Result<PreparedBatch, FailedWrite> {
    var written = prepared
    do {
      try storage.appendBatch(claiming: prepared.claims) { tip, stored in
        let now = options.clock()
        let retries = stored.values.contains { $0.isLive(at: now) }
        guard retries || !written.base.isAt(tip) else { return written.batch }
        let base = try LedgerHead(tip: tip, verifier: prepared.signer.verifier)
        let arrived = pending.withLock { $0.takeUnclaimed(room: options.maximumBatchEntries - written.entryCount) }
        written = prepare(written.requests + arrived, on: base, signer: prepared.signer, stored: stored)
        return written.batch
      }
      for (i, outcome) in written.outcomes.enumerated() {
        guard case let .replayed(record, _) = outcome else { continue }
        written.outcomes[i] = .replayed(record, try Self.receipts(of: record, in: storage))
      }
      return .success(written)
    } catch {
      return .failure(FailedWrite(error: error, requests: written.requests))
    }
  }

  private nonisolated func prepare(
    _ requests: [PendingAppend], on base: LedgerHead, signer: NoteSigner, stored: [IdempotencyKey: IdempotencyRecord]
  ) -> PreparedBatch {
    var next = base
    var entries: [StoredEntry] = []
    var closed: [(NodeID, SHA256Digest)] = []
    var outcomes: [AppendOutcome] = []
    var records: [IdempotencyRecord] = []
    // Times never go backwards, so time ranges map to index ranges and stay meaningful after clock steps.
    let now = max(options.clock(), next.lastTime)
    for request in requests {
      if let claim = request.claim, let record = stored[claim.key], record.isLive(at: now) {
        outcomes.append(.replayed(record, []))
        continue
      }
      var perRequest: [LedgerReceipt] = []
      let first = next.size
      for encoded in request.events {
        let index = next.size
        let canonical = encoded.entryBytes(index: index, prev: next.lastLeafHash, time: now)
        let leaf = MerkleHashing.leafHash(canonical)
        let event = encoded.event
        entries.append(StoredEntry(
          index: index, canonical: canonical, leafHash: leaf, time: now, kind: event.kind, actor: event.actor,
          action: event.action, resource: event.resource, outcome: event.outcome))
        perRequest.append(LedgerReceipt(index: index, leafHash: leaf, time: now))
        next.range.append(leaf: leaf) { closed.append(($0, $1)) }
        next.lastLeafHash = leaf
      }
      if let claim = request.claim {
        records.append(IdempotencyRecord(
          key: claim.key, fingerprint: claim.fingerprint, response: claim.response, expiresAt: claim.expiresAt, firstIndex: first,
          entryCount: UInt32(request.events.count)))
      }
      outcomes.append(.recorded(perRequest))
    }
    guard !entries.isEmpty else {
      return PreparedBatch(requests: requests, signer: signer, outcomes: outcomes, batch: nil, base: base, head: base)
    }
    next.lastTime = now
    let checkpoint = Checkpoint(origin: signer.name, size: next.size, rootHash: next.range.rootHash)
    next.checkpoint = SignedCheckpoint(checkpoint: checkpoint, note: signer.sign(checkpoint.body))
    return PreparedBatch(
      requests: requests, signer: signer, outcomes: outcomes,
      batch: LedgerBatch(entries: entries, closedNodes: closed, checkpoint: next.checkpoint!, tip: next.tip!, idempotencyRecords: records),
      base: base, head: next)
  }
}

/// Nanoseconds since the Unix epoch from the system's real-time clock.
public func wallClockNanoseconds() -> Int64 {
  var spec = timespec()
  clock_gettime(CLOCK_REALTIME, &spec)
  return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
