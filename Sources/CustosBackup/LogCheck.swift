import CustosCrypto
import CustosLedger

/// The log's rows checked against the tree they make, a block of rows at a time in two steps: `scan`
/// (static, on every core) scans and hashes the entries and hashes the aligned blocks of 256 leaves;
/// `walk` then checks the links, the tree's right edge, the stored nodes and the checkpoints in order.
/// The steps share nothing, so a reader walks one block while it scans the next.
struct LogCheck {
  let verifier: NoteVerifier
  private var range = CompactRange()
  private var lastLeaf = SHA256Digest.zero
  private var lastTime: Int64 = 0
  /// The nodes the last entry closed, which the next node rows must be, in order.
  private var expectedNodes: [(NodeID, SHA256Digest)] = []
  private var nextExpectedNode = 0
  private var nodesOutstanding: Bool { nextExpectedNode < expectedNodes.count }
  private var entries: [StoredEntry] = []
  private var closed: [(NodeID, SHA256Digest)] = []
  /// Entries since the last checkpoint.
  private var pendingEntries = 0
  private(set) var lastCheckpoint: String?
  /// Whether each group commit is assembled for the caller (a restore writes them).
  let collectsBatches: Bool

  init(verifier: NoteVerifier, collectsBatches: Bool) {
    self.verifier = verifier
    self.collectsBatches = collectsBatches
  }

  var size: UInt64 { range.size }
  var root: SHA256Digest { range.rootHash }

  /// A block of rows scanned and hashed, waiting for `walk`.
  struct ScannedRows: Sendable {
    let bytes: [UInt8]
    let rows: [Range<Int>]
    /// The positions in `rows` of the entry rows.
    let entryRows: [Int]
    /// The entry rows' scans: a head group up to the first multiple of 256 leaves, then one group per
    /// aligned block (whose interior nodes are hashed when it is whole).
    let groups: [ScannedGroup]
    /// The leaf index the first entry row has if every row before it links.
    let first: UInt64
    let headCount: Int

    /// The scan of the `ordinal`-th entry row, and the merges hashed ahead for it.
    func entry(_ ordinal: Int) -> (ScannedRow, ArraySlice<SHA256Digest>) {
      let (group, position) =
        ordinal < headCount ? (0, ordinal) : (1 + (ordinal - headCount) / AlignedSubtrees.leaves, (ordinal - headCount) % AlignedSubtrees.leaves)
      let scanned = groups[group]
      return (scanned.rows[position], scanned.subtrees?.merges(at: position) ?? [])
    }
  }

  /// One group of entry rows scanned.
  struct ScannedGroup: Sendable {
    var rows: [ScannedRow] = []
    var subtrees: AlignedSubtrees?
  }

  /// Scans `rows` of `bytes`, whose first entry row is leaf `first`, on every core beside `sideJobs`
  /// more jobs.
  static func scan(_ bytes: [UInt8], rows: [Range<Int>], first: UInt64, sideJobs: Int = 0, sideJob: (Int) -> Void = { _ in }) -> ScannedRows {
    let entryTag = BackupFormat.LedgerRow.entry.rawValue
    let entryRows = rows.indices.filter { rows[$0].count > 33 && bytes[rows[$0].lowerBound] == entryTag }
    let leaves = AlignedSubtrees.leaves
    let headCount = min(entryRows.count, (leaves - Int(first % UInt64(leaves))) % leaves)
    var groups = [ScannedGroup](repeating: ScannedGroup(), count: 1 + (entryRows.count - headCount + leaves - 1) / leaves)
    ConcurrentJobs.fill(&groups, sideJobs: sideJobs, sideJob: sideJob) { group, scanned in
      let start = group == 0 ? 0 : headCount + (group - 1) * leaves
      let end = group == 0 ? headCount : min(entryRows.count, start + leaves)
      scanned.rows.reserveCapacity(end - start)
      bytes.withUnsafeBytes { bytes in
        for ordinal in start..<end {
          scanned.rows.append(ScannedRow(UnsafeRawBufferPointer(rebasing: bytes[rows[entryRows[ordinal]]])))
        }
      }
      if group > 0, end - start == leaves {
        let leafRows = scanned.rows
        scanned.subtrees = AlignedSubtrees { leafRows[$0].leaf }
      }
    }
    return ScannedRows(bytes: bytes, rows: rows, entryRows: entryRows, groups: groups, first: first, headCount: headCount)
  }

  /// Checks the scanned rows in order; returns the group commits their checkpoint rows complete.
  mutating func walk(_ scanned: ScannedRows) throws -> [LedgerBatch] {
    guard scanned.entryRows.isEmpty || scanned.first == size else {
      throw BackupError(part: "ledger", index: size, "rows were scanned as if from leaf \(scanned.first)")
    }
    var batches: [LedgerBatch] = []
    var ordinal = 0
    try scanned.bytes.withUnsafeBytes { bytes in
      for (i, row) in scanned.rows.enumerated() {
        var entry: (ScannedRow, ArraySlice<SHA256Digest>)?
        if ordinal < scanned.entryRows.count, scanned.entryRows[ordinal] == i {
          entry = scanned.entry(ordinal)
          ordinal += 1
        }
        if let batch = try take(UnsafeRawBufferPointer(rebasing: bytes[row]), scanned: entry) { batches.append(batch) }
      }
    }
    return batches
  }

  /// What the scan learned of one entry row; plain values, so the in-order walk copies them for free.
  struct ScannedRow: Sendable {
    var fields: CanonicalEntryScanner.Fields?
    var leaf = SHA256Digest.zero
    /// Whether the row's stored leaf hash is the hash of its bytes.
    var storedLeafMatches = false

    /// Scans an entry row: the stored leaf hash (32 bytes after the tag), then the canonical entry.
    init(_ row: UnsafeRawBufferPointer) {
      let entry = UnsafeRawBufferPointer(rebasing: row[33...])
      if case let .success(fields) = CanonicalEntryScanner.scan(entry) { self.fields = fields }
      leaf = MerkleHashing.leafHash(entry)
      storedLeafMatches = LogCheck.digest(in: row, at: 1) == leaf
    }
  }

  /// Takes one row, with its scan and merges if it is an entry row; returns the group commit a
  /// checkpoint row completes.
  private mutating func take(_ row: UnsafeRawBufferPointer, scanned: (ScannedRow, ArraySlice<SHA256Digest>)?) throws -> LedgerBatch? {
    guard let tag = row.first.flatMap(BackupFormat.LedgerRow.init(rawValue:)) else {
      throw BackupError(part: "ledger", index: size, "a row of unknown kind")
    }
    switch tag {
    case .entry:
      guard !nodesOutstanding else { throw BackupError(part: "ledger", index: size, "stored Merkle nodes are missing") }
      let index = size
      guard let (scanned, merges) = scanned else { throw BackupError(part: "ledger", index: index, "an entry row too short") }
      let leaf = scanned.leaf
      guard scanned.storedLeafMatches else {
        throw BackupError(part: "ledger", index: index, "the entry's bytes do not hash to its stored leaf hash (altered)")
      }
      guard let entry = scanned.fields else {
        // Scanned again for the reason, which the scan does not keep.
        let failure = ScannedEntry(scanning: UnsafeRawBufferPointer(rebasing: row[33...])).failure
        throw BackupError(part: "ledger", index: index, "the entry is \(failure)")
      }
      guard entry.index == index else { throw BackupError(part: "ledger", index: index, "the entry says index \(entry.index)") }
      guard entry.prev == lastLeaf else { throw BackupError(part: "ledger", index: index, "its prev link does not name the entry before") }
      guard entry.time >= lastTime else { throw BackupError(part: "ledger", index: index, "its time goes backwards") }
      var made: [(NodeID, SHA256Digest)] = []
      swap(&made, &expectedNodes)
      made.removeAll(keepingCapacity: true)
      range.append(leaf: leaf, merged: merges) { made.append(($0, $1)) }
      expectedNodes = made
      nextExpectedNode = 0
      if collectsBatches { closed += made }
      lastLeaf = leaf
      lastTime = entry.time
      if collectsBatches {
        // The query columns are needed only to write the entry (a restore), not to check it.
        let canonical = Array(row[33...])
        let event: LedgerEvent
        do { event = try LedgerEntry(canonicalBytes: canonical).event } catch {
          throw BackupError(part: "ledger", index: index, "the entry is not canonical: \(error)")
        }
        entries.append(StoredEntry(
          index: index, canonical: canonical, leafHash: leaf, time: entry.time, kind: event.kind, actor: event.actor, action: event.action,
          resource: event.resource, outcome: event.outcome))
      }
      pendingEntries += 1
      return nil
    case .node:
      let body = row.dropFirst()
      guard body.count == 1 + 8 + 32, nodesOutstanding else {
        throw BackupError(part: "ledger", index: size, "a stored Merkle node that the entries do not make")
      }
      let expected = expectedNodes[nextExpectedNode]
      let level = row[1]
      let index = row[2..<10].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard level == expected.0.level, index == expected.0.index, Self.digest(in: row, at: 10) == expected.1 else {
        throw BackupError(part: "ledger", index: size > 0 ? size - 1 : 0, "stored Merkle node (\(level), \(index)) does not match the entries")
      }
      nextExpectedNode += 1
      return nil
    case .checkpoint:
      let note = String(decoding: row.dropFirst(), as: UTF8.self)
      let signed: SignedCheckpoint
      do { signed = try SignedCheckpoint(note: note, verifier: verifier) } catch {
        throw BackupError(part: "ledger", index: size > 0 ? size - 1 : 0, "a checkpoint does not verify: \(error)")
      }
      guard signed.checkpoint.size == size, signed.checkpoint.rootHash == root, pendingEntries > 0, !nodesOutstanding else {
        throw BackupError(part: "ledger", index: size > 0 ? size - 1 : 0, "the checkpoint of size \(signed.checkpoint.size) does not match the entries")
      }
      lastCheckpoint = note
      pendingEntries = 0
      guard collectsBatches else {
        closed.removeAll(keepingCapacity: true)
        return nil
      }
      let batch = LedgerBatch(
        entries: entries, closedNodes: closed, checkpoint: signed,
        tip: LedgerTip(size: size, rangeHashes: range.hashes, lastLeafHash: lastLeaf, lastTime: lastTime, checkpointNote: note))
      entries.removeAll(keepingCapacity: true)
      closed.removeAll(keepingCapacity: true)
      return batch
    }
  }

  /// The 32-byte digest at `offset` of `row`, read in place (nil if the row is too short).
  @inline(__always)
  static func digest(in row: UnsafeRawBufferPointer, at offset: Int) -> SHA256Digest? {
    guard row.count >= offset + SHA256Digest.byteCount else { return nil }
    return SHA256Digest(bytes: UnsafeRawBufferPointer(rebasing: row[offset..<(offset + SHA256Digest.byteCount)]))
  }

  /// The log part ended: it must end at a checkpoint.
  func finish() throws {
    guard pendingEntries == 0, !nodesOutstanding else {
      throw BackupError(part: "ledger", index: size > 0 ? size - 1 : 0, "the log does not end at a signed checkpoint")
    }
  }
}
