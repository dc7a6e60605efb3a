import CustosCrypto
import CustosLedger
import Dispatch
import Foundation

/// Reads a backup and checks all of it in one pass — the header's key against the one expected, every
/// entry's canonical form, index, `prev` link and time, every stored node against the tree the entries
/// make, every checkpoint's signature and root, every part's digest, and the manifest's signature —
/// handing each verified group commit to `onBatch` as it goes. Holds one record and the compact range.
public struct BackupReader {
  /// What a verified backup holds besides its log.
  public struct Verified: Sendable {
    public var manifest: BackupManifest
    public var contents: BackupContents
    public var verifier: NoteVerifier
  }

  private let stream: InputStream
  private let readBytes: Int

  /// Reads `path`.
  public init(path: String) throws {
    try self.init(path: path, readBytes: RecordBlockReader.readBytes)
  }

  /// Reads `path`, `readBytes` at a time (tests make blocks tiny to cut records across them).
  init(path: String, readBytes: Int) throws {
    guard FileManager.default.isReadableFile(atPath: path), let stream = InputStream(fileAtPath: path) else {
      throw BackupError(part: "file", "cannot open \(path)")
    }
    stream.open()
    guard stream.streamStatus == .open else {
      throw BackupError(part: "file", "cannot open \(path): \(stream.streamError.map { "\($0)" } ?? "unknown error")")
    }
    self.stream = stream
    self.readBytes = readBytes
  }

  /// Verifies the backup; `verifierKey` (the ledger's, from a trusted source) must be the one it was
  /// signed with; without it the header's key is taken (and returned, to be compared by a person).
  /// With `witnesses`, at least `quorum` of them must have cosigned the backup's checkpoint.
  public mutating func verify(
    verifierKey expected: String?, witnesses: [CosignerKey] = [], quorum: Int = 0, progress: (UInt64, UInt64?) -> Void = { _, _ in },
    onBatch: ((LedgerBatch) throws -> Void)? = nil
  ) throws -> Verified {
    var cursor = try RecordCursor(stream: stream, readBytes: readBytes)
    guard let (kind, headerRange) = try cursor.next(part: "header", checking: { _, _, _ in }), kind == .header,
      let header = try? JSONDecoder().decode(BackupHeader.self, from: Data(cursor.block.bytes[headerRange]))
    else { throw BackupError(part: "header", "missing or malformed") }
    if let expected, expected != header.verifierKey {
      throw BackupError(part: "header", "signed by the ledger key \(header.verifierKey), not the expected \(expected)")
    }
    let verifier: NoteVerifier
    do { verifier = try NoteVerifier(verifierKey: header.verifierKey) } catch {
      throw BackupError(part: "header", "the verifier key does not parse: \(error)")
    }
    var log = LogCheck(verifier: verifier, collectsBatches: onBatch != nil)
    let blocks = cursor.blocks
    func check(_ bytes: [UInt8], _ rows: [Range<Int>], readingAhead: Bool) throws {
      for batch in try log.take(bytes, rows: rows, sideJobs: readingAhead ? 1 : 0, sideJob: { _ in blocks.readNext() }) {
        try onBatch?(batch)
      }
      progress(log.size, nil)
    }
    func nextRecord(part: String) throws -> (BackupFormat.RecordKind, Range<Int>)? { try cursor.next(part: part, checking: check) }
    func payload(_ range: Range<Int>) -> [UInt8] { Array(cursor.block.bytes[range]) }
    var contents = BackupContents()
    var digests: [String: BackupManifest.PartDigest] = [:]
    var part: BackupFormat.Part?
    var hash = SHA256()
    var rows: UInt64 = 0
    var seen: [BackupFormat.Part] = []
    func closePart() {
      if let part { digests[part.rawValue] = .init(rows: rows, sha256: hash.finalize().hex) }
      hash = SHA256()
      rows = 0
    }
    while true {
      let next = try nextRecord(part: part?.rawValue ?? "header")
      if next?.0 != .row { try cursor.checkPendingRows(check) }
      guard let (kind, record) = next else {
        throw BackupError(part: part?.rawValue ?? "file", index: part == .ledger ? log.size : nil, "the file ends early (truncated)")
      }
      switch kind {
      case .part:
        closePart()
        let name = cursor.block.bytes[record]
        guard let next = BackupFormat.Part(rawValue: String(decoding: name, as: UTF8.self)),
          next == BackupFormat.Part.allCases[seen.count]
        else { throw BackupError(part: String(decoding: name.prefix(64), as: UTF8.self), "unexpected part") }
        if part == .ledger { try log.finish() }
        part = next
        seen.append(next)
      case .row:
        guard let current = part else { throw BackupError(part: "file", "a row outside any part") }
        // The log is checked row by row against its signed checkpoints, which authenticate every byte
        // of it; its digest (for other tools) need not be recomputed here. The other parts have only
        // their digest in the signed manifest.
        rows += 1
        if current == .ledger {
          cursor.pendingRows.append(record)
        } else {
          let row = payload(record)
          hash.update(BackupFormat.recordHeader(.row, length: row.count))
          hash.update(row)
          try contents.add(row, to: current)
        }
      case .manifest:
        closePart()
        if part == .ledger { try log.finish() }
        guard seen == BackupFormat.Part.allCases else { throw BackupError(part: "manifest", "parts are missing") }
        let manifest: BackupManifest
        let signed = payload(record)
        do { manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(signed)) } catch {
          throw BackupError(part: "manifest", "does not decode: \(error)")
        }
        guard let (signatureKind, signatureRange) = try nextRecord(part: "signature"), signatureKind == .signature else {
          throw BackupError(part: "signature", "missing (truncated)")
        }
        guard verifier.publicKey.isValidSignature(payload(signatureRange), for: BackupFormat.signatureContext + signed) else {
          throw BackupError(part: "signature", "the manifest's signature does not verify with \(header.verifierKey)")
        }
        guard try cursor.isAtEndOfFile() else {
          throw BackupError(part: "file", "bytes after the signature")
        }
        for (name, digest) in manifest.parts {
          let matches = name == BackupFormat.Part.ledger.rawValue ? digests[name]?.rows == digest.rows : digests[name] == digest
          guard matches else { throw BackupError(part: name, "its digest does not match the manifest's") }
        }
        guard manifest.parts.count == digests.count, manifest.origin == header.origin, manifest.verifierKey == header.verifierKey,
          manifest.treeSize == log.size, manifest.rootHash == log.root.hex, manifest.checkpoint == log.lastCheckpoint
        else { throw BackupError(part: "manifest", "does not describe the log it signs (size \(log.size))") }
        if !witnesses.isEmpty {
          let body = String(manifest.checkpoint[..<(manifest.checkpoint.range(of: "\n\n")?.lowerBound ?? manifest.checkpoint.endIndex)]) + "\n"
          let lines = manifest.cosignatures.map { Substring($0.trimmingCharacters(in: .newlines)) }
          let cosigned = witnesses.filter { Cosignature.verified(lines: lines, body: body, cosigner: $0) != nil }.count
          guard cosigned >= quorum else {
            throw BackupError(part: "manifest", "\(cosigned) of the given witnesses cosigned its checkpoint, fewer than the quorum of \(quorum)")
          }
        }
        return Verified(manifest: manifest, contents: contents, verifier: verifier)
      case .header, .signature:
        throw BackupError(part: part?.rawValue ?? "file", "a \(kind) record out of place")
      }
    }
  }
}

/// The log's rows checked one by one against the tree they make.
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

  /// Takes the next rows (`rows` of `bytes`); returns the group commits their checkpoint rows complete.
  /// The entries' canonical scans and leaf hashes — beside `sideJobs` more jobs — then the interior nodes
  /// of every aligned block of 256 leaves, are computed on every core first; the links, the tree's right
  /// edge and the stored nodes are then checked in order.
  mutating func take(_ bytes: [UInt8], rows: [Range<Int>], sideJobs: Int = 0, sideJob: (Int) -> Void = { _ in }) throws -> [LedgerBatch] {
    let entryTag = BackupFormat.LedgerRow.entry.rawValue
    let entryRows = rows.indices.filter { rows[$0].count > 33 && bytes[rows[$0].lowerBound] == entryTag }
    var scanned = [ScannedRow](repeating: ScannedRow(), count: entryRows.count)
    ConcurrentJobs.fill(&scanned, sideJobs: sideJobs, sideJob: sideJob) { i, scanned in
      let row = rows[entryRows[i]]
      bytes.withUnsafeBytes { scanned = ScannedRow(UnsafeRawBufferPointer(rebasing: $0[row])) }
    }
    // If every entry row links, the k-th is leaf `size + k`; blocks of entries that do not are never read.
    let leaves = UInt64(AlignedSubtrees.leaves)
    let first = size
    let blockStart = (first + leaves - 1) / leaves * leaves
    let blockCount = first + UInt64(entryRows.count) >= blockStart ? Int((first + UInt64(entryRows.count) - blockStart) / leaves) : 0
    var blocks = [AlignedSubtrees?](repeating: nil, count: blockCount)
    let scannedEntries = scanned
    ConcurrentJobs.fill(&blocks) { block, subtrees in
      let ordinal = Int(blockStart - first) + block * Int(leaves)
      subtrees = AlignedSubtrees { scannedEntries[ordinal + $0].leaf }
    }
    aligned = Aligned(start: blockStart, blocks: blocks)
    defer { aligned = Aligned() }
    var batches: [LedgerBatch] = []
    var nextEntry = 0
    try bytes.withUnsafeBytes { bytes in
      for (i, row) in rows.enumerated() {
        var entry: ScannedRow?
        if nextEntry < entryRows.count, entryRows[nextEntry] == i {
          entry = scanned[nextEntry]
          nextEntry += 1
        }
        if let batch = try take(UnsafeRawBufferPointer(rebasing: bytes[row]), scanned: entry) { batches.append(batch) }
      }
    }
    return batches
  }

  /// What the parallel phase learned of one entry row; plain values, so the in-order walk copies them
  /// for free.
  struct ScannedRow {
    var fields: CanonicalEntryScanner.Fields?
    var leaf = SHA256Digest.zero
    /// Whether the row's stored leaf hash is the hash of its bytes.
    var storedLeafMatches = false

    init() {}

    /// Scans an entry row: the stored leaf hash (32 bytes after the tag), then the canonical entry.
    init(_ row: UnsafeRawBufferPointer) {
      let entry = UnsafeRawBufferPointer(rebasing: row[33...])
      if case let .success(fields) = CanonicalEntryScanner.scan(entry) { self.fields = fields }
      leaf = MerkleHashing.leafHash(entry)
      storedLeafMatches = LogCheck.digest(in: row, at: 1) == leaf
    }
  }

  /// The aligned blocks hashed ahead for the rows being taken.
  private var aligned = Aligned()

  /// Aligned blocks of leaves hashed ahead.
  private struct Aligned {
    var start: UInt64 = 0
    var blocks: [AlignedSubtrees?] = []

    /// The merges already hashed for leaf `index` (empty outside the blocks).
    func merges(leaf index: UInt64) -> ArraySlice<SHA256Digest> {
      guard index >= start else { return [] }
      let block = Int((index - start) / UInt64(AlignedSubtrees.leaves))
      guard block < blocks.count, let subtrees = blocks[block] else { return [] }
      return subtrees.merges(at: Int((index - start) % UInt64(AlignedSubtrees.leaves)))
    }
  }

  /// Takes one row; returns the group commit a checkpoint row completes.
  private mutating func take(_ row: UnsafeRawBufferPointer, scanned: ScannedRow?) throws -> LedgerBatch? {
    guard let tag = row.first.flatMap(BackupFormat.LedgerRow.init(rawValue:)) else {
      throw BackupError(part: "ledger", index: size, "a row of unknown kind")
    }
    switch tag {
    case .entry:
      guard !nodesOutstanding else { throw BackupError(part: "ledger", index: size, "stored Merkle nodes are missing") }
      let index = size
      guard let scanned else { throw BackupError(part: "ledger", index: index, "an entry row too short") }
      let leaf = scanned.leaf
      guard scanned.storedLeafMatches else {
        throw BackupError(part: "ledger", index: index, "the entry's bytes do not hash to its stored leaf hash (altered)")
      }
      guard let entry = scanned.fields else {
        // Scanned again for the reason, which the parallel phase does not keep.
        let failure = ScannedEntry(scanning: UnsafeRawBufferPointer(rebasing: row[33...])).failure
        throw BackupError(part: "ledger", index: index, "the entry is \(failure)")
      }
      guard entry.index == index else { throw BackupError(part: "ledger", index: index, "the entry says index \(entry.index)") }
      guard entry.prev == lastLeaf else { throw BackupError(part: "ledger", index: index, "its prev link does not name the entry before") }
      guard entry.time >= lastTime else { throw BackupError(part: "ledger", index: index, "its time goes backwards") }
      var made: [(NodeID, SHA256Digest)] = []
      swap(&made, &expectedNodes)
      made.removeAll(keepingCapacity: true)
      range.append(leaf: leaf, merged: aligned.merges(leaf: index)) { made.append(($0, $1)) }
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
