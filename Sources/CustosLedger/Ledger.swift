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
  private var signer: NoteSigner?
  private let options: Options
  private var head: LedgerHead
  private var pending: [PendingAppend] = []
  private var draining = false
  private let writer = DispatchQueue(label: "custos.ledger.writer")

  private struct PendingAppend: Sendable {
    var events: [EncodedEvent]
    var continuation: CheckedContinuation<[LedgerReceipt], any Error>
  }

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
    guard !events.isEmpty else { return [] }
    guard signer != nil else { throw Self.sealed }
    var encoded: [EncodedEvent] = []
    encoded.reserveCapacity(events.count)
    for (i, event) in events.enumerated() {
      do { encoded.append(try validate(event)) } catch let LedgerError.invalidArgument(why) {
        throw LedgerError.invalidArgument(events.count == 1 ? why : "events[\(i)]: \(why)")
      }
    }
    return try await withCheckedThrowingContinuation { continuation in
      pending.append(PendingAppend(events: encoded, continuation: continuation))
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
    var receipts: [[LedgerReceipt]]
    var batch: LedgerBatch
    /// The head the batch was built on, and the head once it is durable.
    var base: LedgerHead
    var head: LedgerHead
  }

  /// Drains the queue in group commits, pipelined: while one batch is being written, the next is
  /// prepared (encoded, hashed, signed) on top of it, so CPU work overlaps the fsync. A batch is
  /// prepared on the head this node expects; if the store's tip is elsewhere when the batch is written
  /// (another node sharing the database appended meanwhile), it is rebuilt on that tip inside the
  /// store's write lock.
  private func drain() async {
    var inFlight: (prepared: PreparedBatch, write: Task<Result<PreparedBatch, any Error>, Never>)?
    while !pending.isEmpty || inFlight != nil {
      var prepared: PreparedBatch?
      if !pending.isEmpty {
        if let signer {
          prepared = prepare(takeBatch(), on: inFlight?.prepared.head ?? head, signer: signer)
        } else if inFlight == nil {
          // Sealed while these waited: nothing of them was written.
          for request in pending { request.continuation.resume(throwing: Self.sealed) }
          pending.removeAll()
        }
      }
      if let flight = inFlight {
        inFlight = nil
        switch await flight.write.value {
        case let .success(written):
          head = written.head
          for (request, receipt) in zip(written.requests, written.receipts) {
            request.continuation.resume(returning: receipt)
          }
        case let .failure(error):
          let unavailable = LedgerError.unavailable("the ledger could not make the entries durable: \(error)")
          for request in flight.prepared.requests { request.continuation.resume(throwing: unavailable) }
          // The next batch was built on this one: return its callers to the queue, unanswered.
          if let next = prepared { pending.insert(contentsOf: next.requests, at: 0) }
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
            writer.async { continuation.resume(returning: Result { try self.write(prepared, to: storage) }) }
          }
        }
        inFlight = (prepared, write)
      }
    }
    draining = false
  }

  /// Writes `prepared`, or the same requests rebuilt on the stored tip if that is not where it was built.
  private nonisolated func write(_ prepared: PreparedBatch, to storage: any LedgerStorage) throws -> PreparedBatch {
    var written = prepared
    try storage.appendBatch { stored in
      guard !prepared.base.isAt(stored) else { return prepared.batch }
      written = prepare(prepared.requests, on: try LedgerHead(tip: stored, verifier: prepared.signer.verifier), signer: prepared.signer)
      return written.batch
    }
    return written
  }

  /// Whole requests from the front of the queue, up to the batch limit (a larger request goes alone).
  private func takeBatch() -> [PendingAppend] {
    var taken: [PendingAppend] = []
    var count = 0
    while let next = pending.first, taken.isEmpty || count + next.events.count <= options.maximumBatchEntries {
      taken.append(pending.removeFirst())
      count += next.events.count
    }
    return taken
  }

  private nonisolated func prepare(_ requests: [PendingAppend], on base: LedgerHead, signer: NoteSigner) -> PreparedBatch {
    var next = base
    var entries: [StoredEntry] = []
    var closed: [(NodeID, SHA256Digest)] = []
    var receipts: [[LedgerReceipt]] = []
    // Times never go backwards, so time ranges map to index ranges and stay meaningful after clock steps.
    let now = max(options.clock(), next.lastTime)
    for request in requests {
      var perRequest: [LedgerReceipt] = []
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
      receipts.append(perRequest)
    }
    next.lastTime = now
    let checkpoint = Checkpoint(origin: signer.name, size: next.size, rootHash: next.range.rootHash)
    next.checkpoint = SignedCheckpoint(checkpoint: checkpoint, note: signer.sign(checkpoint.body))
    return PreparedBatch(
      requests: requests, signer: signer, receipts: receipts,
      batch: LedgerBatch(entries: entries, closedNodes: closed, checkpoint: next.checkpoint!, tip: next.tip!), base: base, head: next)
  }
}

/// Nanoseconds since the Unix epoch from the system's real-time clock.
public func wallClockNanoseconds() -> Int64 {
  var spec = timespec()
  clock_gettime(CLOCK_REALTIME, &spec)
  return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
