import CustosCrypto

/// What the ledger needs from a store. Implemented by `CustosStore` (SQLite now, PostgreSQL later);
/// no SQL, connection or driver type crosses this seam.
///
/// Calls are synchronous and may block on I/O; the ledger runs writes on its own thread.
public protocol LedgerStorage: Sendable {
  /// Extends the log by one batch in one transaction, and returns only once it is durable.
  ///
  /// Holding the store's write lock (so no other writer, in this process or another, can extend the
  /// log meanwhile), the store reads the stored tip (nil for an empty log) and the stored records of the
  /// idempotency keys in `claims`, calls `build` with them, writes the returned batch's entries, closed
  /// Merkle nodes, checkpoint, idempotency records (replacing expired ones) and new tip, and commits.
  /// `build` returns nil when nothing is left to write (every request was a retry): then nothing is
  /// written. On error nothing of the batch is visible. Returns the batch that was written.
  @discardableResult
  func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch?

  /// The stored records of `keys` (live or expired); absent keys are left out.
  func idempotencyRecords(_ keys: [IdempotencyKey]) throws -> [IdempotencyKey: IdempotencyRecord]

  /// Deletes the idempotency records that expired at or before `time` (nanoseconds since the epoch),
  /// returning how many.
  func pruneIdempotencyRecords(expiredBy time: Int64) throws -> Int

  /// The stored tip, or nil for an empty log.
  func tip() throws -> LedgerTip?

  /// The checkpoint of the last durable batch, or nil for an empty ledger.
  func latestCheckpoint() throws -> SignedCheckpoint?

  /// Stored checkpoints whose sizes lie in `sizes`, smallest first.
  func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint]

  /// The stored hashes of the requested perfect subtrees (level 0: leaf hashes). Missing ids are absent.
  func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest]

  /// Calls `body` with each stored entry whose index lies in `range`, in index order, until it returns false.
  /// Rows are reported as found: gaps or duplicates are the caller's to detect.
  func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws

  /// The stored bytes and leaf hashes of entries whose index lies in `range`, in index order, packed
  /// into one buffer: verification reads whole logs and must not allocate per entry.
  func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk

  /// Entries matching `query`, in index order, at most `query.limit`, from indexes rather than a scan.
  func query(_ query: LedgerQuery) throws -> [StoredEntry]

  /// The first index whose time is at or after `time` (the number of entries if none): time never
  /// decreases along the log, so this bounds a time range.
  func firstIndex(atOrAfter time: Int64) throws -> UInt64
}

extension LedgerStorage {
  /// Extends the log by one batch that claims no idempotency key (see `appendBatch(claiming:_:)`).
  @discardableResult
  public func appendBatch(_ build: (LedgerTip?) throws -> LedgerBatch) throws -> LedgerBatch {
    guard let batch = try appendBatch(claiming: [], { tip, _ in try build(tip) }) else {
      throw LedgerError.unavailable("the store wrote no batch")
    }
    return batch
  }
}

/// One group commit: everything the ledger writes for a batch of appends.
public struct LedgerBatch: Sendable {
  public var entries: [StoredEntry]
  /// Perfect subtrees (level ≥ 1) that the batch completed.
  public var closedNodes: [(NodeID, SHA256Digest)]
  public var checkpoint: SignedCheckpoint
  /// The tip once the batch is written.
  public var tip: LedgerTip
  /// The idempotency keys of the batch's requests, kept with their entries.
  public var idempotencyRecords: [IdempotencyRecord]

  public init(
    entries: [StoredEntry], closedNodes: [(NodeID, SHA256Digest)], checkpoint: SignedCheckpoint, tip: LedgerTip,
    idempotencyRecords: [IdempotencyRecord] = []
  ) {
    self.entries = entries
    self.closedNodes = closedNodes
    self.checkpoint = checkpoint
    self.tip = tip
    self.idempotencyRecords = idempotencyRecords
  }

  /// The size of the log the batch extends.
  public var baseSize: UInt64 { tip.size - UInt64(entries.count) }
}

/// Filters for `LedgerStorage.query`. Nil filters match anything.
public struct LedgerQuery: Sendable, Equatable {
  /// Half-open time range in nanoseconds since the epoch.
  public var timeFrom: Int64?
  public var timeTo: Int64?
  public var kind: String?
  public var actor: String?
  public var action: String?
  public var resource: String?
  public var outcome: String?
  /// Cursor: entries with index ≥ this.
  public var startIndex: UInt64
  public var limit: Int

  public static let maximumLimit = 1000

  public init(
    timeFrom: Int64? = nil, timeTo: Int64? = nil, kind: String? = nil, actor: String? = nil, action: String? = nil,
    resource: String? = nil, outcome: String? = nil, startIndex: UInt64 = 0, limit: Int = 100
  ) {
    self.timeFrom = timeFrom
    self.timeTo = timeTo
    self.kind = kind
    self.actor = actor
    self.action = action
    self.resource = resource
    self.outcome = outcome
    self.startIndex = startIndex
    self.limit = limit
  }
}

/// Many entries' canonical bytes in one buffer, as stored (gaps and duplicates included).
public struct EntryBytesChunk: Sendable {
  public private(set) var indexes: [UInt64] = []
  /// Entry i occupies `bytes[offsets[i]..<offsets[i + 1]]`.
  public private(set) var offsets: [Int] = [0]
  public private(set) var bytes: [UInt8] = []
  public private(set) var storedLeafHashes: [SHA256Digest] = []

  public init(reservingEntries count: Int = 0, bytes byteCount: Int = 0) {
    indexes.reserveCapacity(count)
    offsets.reserveCapacity(count + 1)
    storedLeafHashes.reserveCapacity(count)
    bytes.reserveCapacity(byteCount)
  }

  public var count: Int { indexes.count }

  public mutating func append(index: UInt64, canonical: UnsafeRawBufferPointer, storedLeafHash: SHA256Digest) {
    indexes.append(index)
    bytes.append(contentsOf: canonical)
    offsets.append(bytes.count)
    storedLeafHashes.append(storedLeafHash)
  }

  /// Lends entry `i`'s bytes.
  public func withEntry<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offsets[i]..<offsets[i + 1]])) }
  }
}
