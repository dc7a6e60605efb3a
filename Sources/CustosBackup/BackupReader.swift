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

  private var source: ByteSource

  /// Reads `path`.
  public init(path: String) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw BackupError(part: "file", "cannot open \(path)")
    }
    source = ByteSource(handle: handle)
  }

  /// Verifies the backup; `verifierKey` (the ledger's, from a trusted source) must be the one it was
  /// signed with; without it the header's key is taken (and returned, to be compared by a person).
  /// With `witnesses`, at least `quorum` of them must have cosigned the backup's checkpoint.
  public mutating func verify(
    verifierKey expected: String?, witnesses: [CosignerKey] = [], quorum: Int = 0, progress: (UInt64, UInt64?) -> Void = { _, _ in },
    onBatch: ((LedgerBatch) throws -> Void)? = nil
  ) throws -> Verified {
    guard try source.read(BackupFormat.magic.count) == BackupFormat.magic else {
      throw BackupError(part: "file", "not a custos-backup/v1 file")
    }
    guard let (kind, headerBytes) = try nextRecord(part: "header"), kind == .header,
      let header = try? JSONDecoder().decode(BackupHeader.self, from: Data(headerBytes))
    else { throw BackupError(part: "header", "missing or malformed") }
    if let expected, expected != header.verifierKey {
      throw BackupError(part: "header", "signed by the ledger key \(header.verifierKey), not the expected \(expected)")
    }
    let verifier: NoteVerifier
    do { verifier = try NoteVerifier(verifierKey: header.verifierKey) } catch {
      throw BackupError(part: "header", "the verifier key does not parse: \(error)")
    }
    var log = LogCheck(verifier: verifier, collectsBatches: onBatch != nil)
    var contents = BackupContents()
    var digests: [String: BackupManifest.PartDigest] = [:]
    var part: BackupFormat.Part?
    var hash = SHA256()
    var rows: UInt64 = 0
    var seen: [BackupFormat.Part] = []
    var pending: [[UInt8]] = []
    func flush() throws {
      for batch in try log.take(pending) { try onBatch?(batch) }
      pending.removeAll(keepingCapacity: true)
      progress(log.size, nil)
    }
    func closePart() {
      if let part { digests[part.rawValue] = .init(rows: rows, sha256: hash.finalize().hex) }
      hash = SHA256()
      rows = 0
    }
    while true {
      let next = try nextRecord(part: part?.rawValue ?? "header")
      if next?.0 != .row, !pending.isEmpty { try flush() }
      guard let (kind, payload) = next else {
        throw BackupError(part: part?.rawValue ?? "file", index: part == .ledger ? log.size : nil, "the file ends early (truncated)")
      }
      switch kind {
      case .part:
        closePart()
        guard let next = BackupFormat.Part(rawValue: String(decoding: payload, as: UTF8.self)),
          next == BackupFormat.Part.allCases[seen.count]
        else { throw BackupError(part: String(decoding: payload.prefix(64), as: UTF8.self), "unexpected part") }
        if part == .ledger { try log.finish() }
        part = next
        seen.append(next)
      case .row:
        guard let current = part else { throw BackupError(part: "file", "a row outside any part") }
        // The log is checked row by row against its signed checkpoints, which authenticate every byte
        // of it; its digest (for other tools) need not be recomputed here. The other parts have only
        // their digest in the signed manifest.
        if current != .ledger {
          hash.update(BackupFormat.recordHeader(.row, length: payload.count))
          hash.update(payload)
        }
        rows += 1
        if current == .ledger {
          pending.append(payload)
          if pending.count == 8192 { try flush() }
        } else {
          try contents.add(payload, to: current)
        }
      case .manifest:
        closePart()
        if part == .ledger { try log.finish() }
        guard seen == BackupFormat.Part.allCases else { throw BackupError(part: "manifest", "parts are missing") }
        let manifest: BackupManifest
        do { manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(payload)) } catch {
          throw BackupError(part: "manifest", "does not decode: \(error)")
        }
        guard let (signatureKind, signature) = try nextRecord(part: "signature"), signatureKind == .signature else {
          throw BackupError(part: "signature", "missing (truncated)")
        }
        guard verifier.publicKey.isValidSignature(signature, for: BackupFormat.signatureContext + payload) else {
          throw BackupError(part: "signature", "the manifest's signature does not verify with \(header.verifierKey)")
        }
        guard try source.read(1).isEmpty else { throw BackupError(part: "file", "bytes after the signature") }
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

  private mutating func nextRecord(part: String) throws -> (BackupFormat.RecordKind, [UInt8])? {
    guard let (tag, length) = try source.readRecordHeader() else { return nil }
    guard let kind = tag.flatMap(BackupFormat.RecordKind.init(rawValue:)) else {
      throw BackupError(part: part, "a malformed record (truncated or altered)")
    }
    guard length <= BackupFormat.maximumRecordBytes else { throw BackupError(part: part, "a record of \(length) bytes is over the limit") }
    let payload = try source.read(length)
    guard payload.count == length else { throw BackupError(part: part, "the file ends inside a record (truncated)") }
    return (kind, payload)
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

  /// Takes the next rows; returns the group commits their checkpoint rows complete. The entries'
  /// canonical scans and leaf hashes, then the interior nodes of every aligned block of 256 leaves, are
  /// computed on every core first; the links, the tree's right edge and the stored nodes are then
  /// checked in order.
  mutating func take(_ rows: [[UInt8]]) throws -> [LedgerBatch] {
    let entryRows = rows.indices.filter { rows[$0].first == BackupFormat.LedgerRow.entry.rawValue && rows[$0].count > 33 }
    var scanned = [ScannedEntry?](repeating: nil, count: rows.count)
    scanned.withUnsafeMutableBufferPointer { results in
      let out = DisjointSlots(results)
      DispatchQueue.concurrentPerform(iterations: entryRows.count) { i in
        let row = entryRows[i]
        rows[row].withUnsafeBytes { out.set(row, ScannedEntry(scanning: UnsafeRawBufferPointer(rebasing: $0[33...]))) }
      }
    }
    // If every entry row links, the k-th is leaf `size + k`; blocks of entries that do not are never read.
    let leaves = UInt64(AlignedSubtrees.leaves)
    let first = size
    let blockStart = (first + leaves - 1) / leaves * leaves
    let blockCount = first + UInt64(entryRows.count) >= blockStart ? Int((first + UInt64(entryRows.count) - blockStart) / leaves) : 0
    var blocks = [AlignedSubtrees?](repeating: nil, count: blockCount)
    let scannedEntries = scanned
    blocks.withUnsafeMutableBufferPointer { results in
      let out = DisjointSlots(results)
      DispatchQueue.concurrentPerform(iterations: blockCount) { block in
        let ordinal = Int(blockStart - first) + block * Int(leaves)
        out.set(block, AlignedSubtrees { scannedEntries[entryRows[ordinal + $0]]?.leaf ?? .zero })
      }
    }
    aligned = Aligned(start: blockStart, blocks: blocks)
    defer { aligned = Aligned() }
    var batches: [LedgerBatch] = []
    for i in rows.indices {
      if let batch = try take(rows[i], scanned: scanned[i]) { batches.append(batch) }
    }
    return batches
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
  private mutating func take(_ row: [UInt8], scanned: ScannedEntry?) throws -> LedgerBatch? {
    guard let tag = row.first.flatMap(BackupFormat.LedgerRow.init(rawValue:)) else {
      throw BackupError(part: "ledger", index: size, "a row of unknown kind")
    }
    switch tag {
    case .entry:
      guard !nodesOutstanding else { throw BackupError(part: "ledger", index: size, "stored Merkle nodes are missing") }
      let index = size
      guard let scanned else { throw BackupError(part: "ledger", index: index, "an entry row too short") }
      let leaf = scanned.leaf
      guard Self.digest(in: row, at: 1) == leaf else {
        throw BackupError(part: "ledger", index: index, "the entry's bytes do not hash to its stored leaf hash (altered)")
      }
      guard let entry = scanned.fields else {
        throw BackupError(part: "ledger", index: index, "the entry is \(scanned.failure)")
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
  private static func digest(in row: [UInt8], at offset: Int) -> SHA256Digest? {
    guard row.count >= offset + SHA256Digest.byteCount else { return nil }
    return row.withUnsafeBytes { SHA256Digest(bytes: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + SHA256Digest.byteCount)])) }
  }

  /// The log part ended: it must end at a checkpoint.
  func finish() throws {
    guard pendingEntries == 0, !nodesOutstanding else {
      throw BackupError(part: "ledger", index: size > 0 ? size - 1 : 0, "the log does not end at a signed checkpoint")
    }
  }
}

/// Buffered reads from a file.
struct ByteSource {
  let handle: FileHandle
  private var buffer: [UInt8] = []
  private var position = 0

  init(handle: FileHandle) { self.handle = handle }

  /// The next record's kind byte and length: nil at the end of the file, a nil kind when the file ends
  /// inside the 5-byte header.
  mutating func readRecordHeader() throws -> (UInt8?, Int)? {
    let header: ArraySlice<UInt8>
    if buffer.count - position >= 5 {
      header = buffer[position..<(position + 5)]
      position += 5
    } else {
      header = try read(5)[...]
      if header.isEmpty { return nil }
      guard header.count == 5 else { return (nil, 0) }
    }
    let i = header.startIndex
    let length = Int(header[i + 1]) << 24 | Int(header[i + 2]) << 16 | Int(header[i + 3]) << 8 | Int(header[i + 4])
    return (header[i], length)
  }

  /// Up to `count` bytes (fewer only at the end of the file).
  mutating func read(_ count: Int) throws -> [UInt8] {
    if buffer.count - position >= count {
      defer { position += count }
      return Array(buffer[position..<(position + count)])
    }
    var result = Array(buffer[position...])
    position = buffer.count
    result.reserveCapacity(count)
    while result.count < count {
      guard let data = try handle.read(upToCount: max(4 << 20, count - result.count)), !data.isEmpty else { break }
      buffer = [UInt8](data)
      let take = min(count - result.count, buffer.count)
      result += buffer[0..<take]
      position = take
    }
    return result
  }
}

/// Where parallel jobs write their results: each job writes only its own slots, and the buffer is read
/// only after `concurrentPerform` returned (which waits for every job).
private struct DisjointSlots<Value>: @unchecked Sendable {
  let buffer: UnsafeMutableBufferPointer<Value?>
  init(_ buffer: UnsafeMutableBufferPointer<Value?>) { self.buffer = buffer }
  func set(_ i: Int, _ value: Value) { buffer[i] = value }
}
