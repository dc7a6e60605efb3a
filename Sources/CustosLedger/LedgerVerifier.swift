import CustosCrypto
import Dispatch
import Foundation

/// The outcome of re-verifying stored entries.
public struct VerificationReport: Sendable, Equatable {
  /// True when every check passed.
  public var ok: Bool { failure == nil }
  /// Entries whose bytes, leaf hash and link were recomputed.
  public var checked: UInt64
  /// The first index that does not match, and why.
  public var failure: (index: UInt64, reason: String)?
  /// The checkpoint the Merkle root was checked against.
  public var checkpoint: Checkpoint?

  public static func == (a: VerificationReport, b: VerificationReport) -> Bool {
    a.checked == b.checked && a.failure?.index == b.failure?.index && a.failure?.reason == b.failure?.reason
      && a.checkpoint == b.checkpoint
  }
}

/// Walks stored entries and recomputes everything a tamperer would have to forge: canonical form, index,
/// leaf hash, `prev` link, and the Merkle root against the signed checkpoint. Stops at the first mismatch.
public struct LedgerVerifier: Sendable {
  public let storage: any LedgerStorage
  public let verifier: NoteVerifier

  public init(storage: any LedgerStorage, verifier: NoteVerifier) {
    self.storage = storage
    self.verifier = verifier
  }

  private struct Mismatch: Error {
    var index: UInt64
    var reason: String
  }

  /// Verifies entries `[start, end)` (end nil: the checkpoint size). `progress(verified, total)` is called
  /// every few thousand entries. Throws `outOfRange` for a range outside the checkpointed log.
  public func verify(
    start: UInt64 = 0, end requestedEnd: UInt64? = nil, progress: (UInt64, UInt64) -> Void = { _, _ in }
  ) throws -> VerificationReport {
    guard let stored = try storage.latestCheckpoint() else {
      guard start == 0, (requestedEnd ?? 0) == 0 else { throw LedgerError.outOfRange("the ledger is empty") }
      return VerificationReport(checked: 0, failure: nil, checkpoint: nil)
    }
    let signed: SignedCheckpoint
    do { signed = try SignedCheckpoint(note: stored.note, verifier: verifier) } catch {
      return VerificationReport(checked: 0, failure: (stored.checkpoint.size, "latest checkpoint: \(error)"), checkpoint: nil)
    }
    let checkpoint = signed.checkpoint
    let size = checkpoint.size
    let end = requestedEnd ?? size
    guard start <= end else { throw LedgerError.outOfRange("start \(start) is after end \(end)") }
    guard end <= size else { throw LedgerError.outOfRange("end \(end) is beyond the checkpoint size \(size)") }

    var checked: UInt64 = 0
    do {
      let left = try storedRange(0, start)
      var range = left
      var prev = SHA256Digest.zero
      if start > 0 { prev = try recomputedLeafHash(start - 1) }
      var expected = start
      try forEachLinkedChunk(start..<end) { chunk, runs in
        for checkedRun in runs {
          let run = checkedRun.run
          if run.continues(next: expected, previous: prev) {
            expected += UInt64(run.count)
            checked += UInt64(run.count)
            prev = run.lastLeaf
            for (id, hash) in checkedRun.subtrees { range.append(subtree: hash, level: id.level) }
            continue
          }
          // Something in this run fails: check it one entry at a time to report exactly what.
          for i in run.span {
            guard chunk.indexes[i] == expected else {
              throw Mismatch(index: expected, reason: chunk.indexes[i] > expected ? "entry is missing" : "entry \(chunk.indexes[i]) is stored twice")
            }
            let (scanned, leaf) = chunk.withEntry(i) { (CanonicalEntryScanner.scan($0), MerkleHashing.leafHash($0)) }
            let fields: CanonicalEntryScanner.Fields
            switch scanned {
            case let .success(scannedFields): fields = scannedFields
            case let .failure(failure): throw Mismatch(index: expected, reason: failure.reason)
            }
            guard fields.index == expected else { throw Mismatch(index: expected, reason: "entry bytes say index \(fields.index)") }
            guard leaf == chunk.storedLeafHashes[i] else {
              throw Mismatch(index: expected, reason: "leaf hash does not match the entry bytes")
            }
            guard fields.prev == prev else {
              throw Mismatch(index: expected, reason: "prev does not match the leaf hash of entry \(expected == 0 ? "-" : String(expected - 1))")
            }
            range.append(leaf: leaf)
            prev = leaf
            expected += 1
            checked += 1
          }
        }
        progress(checked, end - start)
      }
      guard expected == end else { throw Mismatch(index: expected, reason: "entry is missing (log ends at \(expected), checkpoint covers \(size))") }
      try appendStored(end, size, to: &range)
      guard range.rootHash == checkpoint.rootHash else {
        // Every entry and link matched, so the log was rewritten consistently from some point on:
        // the signed intermediate checkpoints tell from which batch.
        throw try localizeRewrite(left: left, start: start, end: end, size: size)
      }
    } catch let mismatch as Mismatch {
      return VerificationReport(checked: checked, failure: (mismatch.index, mismatch.reason), checkpoint: checkpoint)
    }
    progress(checked, end - start)
    return VerificationReport(checked: checked, failure: nil, checkpoint: checkpoint)
  }

  /// Walks `[start, end)` again, comparing the running root with every stored checkpoint in range;
  /// returns the mismatch that starts after the last checkpoint that still matches.
  private func localizeRewrite(left: CompactRange, start: UInt64, end: UInt64, size: UInt64) throws -> Mismatch {
    var range = left
    var lastMatching = start
    var intermediate = try storage.checkpoints(sizes: (start + 1)...max(start + 1, end))[...]
    var cursor = start
    while cursor < end {
      let chunk = try storage.entryBytes(in: cursor..<min(end, cursor + Self.chunkEntries))
      for i in 0..<chunk.count {
        range.append(leaf: chunk.withEntry(i) { MerkleHashing.leafHash($0) })
        cursor += 1
        while let next = intermediate.first, next.checkpoint.size <= cursor {
          intermediate.removeFirst()
          guard next.checkpoint.size == cursor else { continue }
          guard range.rootHash == next.checkpoint.rootHash else {
            let genuine = (try? SignedCheckpoint(note: next.note, verifier: verifier)) != nil
            return Mismatch(
              index: lastMatching,
              reason: genuine
                ? "entries \(lastMatching)..<\(cursor) do not match the signed checkpoint of size \(cursor)"
                : "stored checkpoint of size \(cursor) has no valid signature")
          }
          lastMatching = cursor
        }
      }
      if chunk.count == 0 { break }
    }
    return Mismatch(index: lastMatching, reason: "Merkle root of the log does not match the signed checkpoint of size \(size)")
  }

  private func appendStored(_ begin: UInt64, _ end: UInt64, to range: inout CompactRange) throws {
    let ids = NodeID.decompose(begin, end)
    let hashes = try storage.nodeHashes(ids)
    for id in ids {
      guard let hash = hashes[id] else { throw Mismatch(index: id.leafRange.lowerBound, reason: "stored Merkle node \(id) is missing") }
      range.append(subtree: hash, level: id.level)
    }
  }

  /// A run of a chunk's entries linked on one core, with the roots of the perfect subtrees it covers.
  private struct CheckedRun {
    var run: LinkedRun
    var subtrees: [(NodeID, SHA256Digest)] = []
  }

  /// Entries per storage read: large enough to amortize the query, small enough to keep memory flat.
  static let chunkEntries: UInt64 = 4096

  /// Entries per run: runs start at multiples of it, so each covers one perfect subtree (but at the
  /// range's ends) and the in-order merge appends one root per run.
  static let runEntries: UInt64 = 256

  /// Reads `range` chunk by chunk and hands each chunk, with its runs in order, to `body`. A chunk's
  /// runs are scanned, hashed, checked against the stored rows and linked on every core, while one more
  /// job reads the next chunk.
  private func forEachLinkedChunk(_ range: Range<UInt64>, _ body: (EntryBytesChunk, [CheckedRun]) throws -> Void) throws {
    guard !range.isEmpty else { return }
    let storage = self.storage
    var next: Result<EntryBytesChunk, any Error>?
    func read(_ lower: UInt64) {
      next = Result { try storage.entryBytes(in: lower..<min(range.upperBound, lower + Self.chunkEntries)) }
    }
    read(range.lowerBound)
    var lower = range.lowerBound
    while lower < range.upperBound {
      let chunk = try next!.get()
      let chunkStart = lower
      lower = min(range.upperBound, lower + Self.chunkEntries)
      let readsNext = lower < range.upperBound
      // Run boundaries: the chunk's ends and the multiples of `runEntries` between them.
      var bounds = [0]
      var boundary = (chunkStart / Self.runEntries + 1) * Self.runEntries
      while boundary < chunkStart + UInt64(chunk.count) {
        bounds.append(Int(boundary - chunkStart))
        boundary += Self.runEntries
      }
      bounds.append(chunk.count)
      var runs = (0..<(bounds.count - 1)).map { CheckedRun(run: LinkedRun(span: bounds[$0]..<bounds[$0 + 1])) }
      let nextLower = lower
      ConcurrentJobs.fill(&runs, sideJobs: readsNext ? 1 : 0, sideJob: { _ in read(nextLower) }) { _, run in
        Self.check(chunk, from: chunkStart, into: &run)
      }
      try body(chunk, runs)
    }
  }

  /// Links one run of `chunk` (whose first entry should be `chunkStart`), checking each entry's stored
  /// index and leaf hash, and folds the leaves into the run's perfect subtrees.
  private static func check(_ chunk: EntryBytesChunk, from chunkStart: UInt64, into checked: inout CheckedRun) {
    var leaves: [SHA256Digest] = []
    leaves.reserveCapacity(checked.run.span.count)
    for i in checked.run.span {
      let linked = chunk.indexes[i] == chunkStart + UInt64(i)
        && chunk.withEntry(i) { bytes in checked.run.append(bytes) { _, leaf in leaf == chunk.storedLeafHashes[i] } }
      guard linked else {
        checked.run.breakChain()
        return
      }
      leaves.append(checked.run.lastLeaf)
    }
    let base = chunkStart + UInt64(checked.run.span.lowerBound)
    for id in NodeID.decompose(base, base + UInt64(leaves.count)) {
      let covered = Int(id.leafRange.lowerBound - base)..<Int(id.leafRange.upperBound - base)
      checked.subtrees.append((id, MerkleHashing.subtreeRoot(leaves[covered]) { $0 }))
    }
  }

  private func recomputedLeafHash(_ index: UInt64) throws -> SHA256Digest {
    var leaf: SHA256Digest?
    try storage.forEachEntry(in: index..<(index + 1)) { entry in
      if entry.index == index { leaf = MerkleHashing.leafHash(entry.canonical) }
      return false
    }
    guard let leaf else { throw Mismatch(index: index, reason: "entry is missing") }
    return leaf
  }

  private func storedRange(_ begin: UInt64, _ end: UInt64) throws -> CompactRange {
    var range = CompactRange()
    let ids = NodeID.decompose(begin, end)
    let hashes = try storage.nodeHashes(ids)
    for id in ids {
      guard let hash = hashes[id] else { throw Mismatch(index: id.leafRange.lowerBound, reason: "stored Merkle node \(id) is missing") }
      range.append(subtree: hash, level: id.level)
    }
    return range
  }
}
