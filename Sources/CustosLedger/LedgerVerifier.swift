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
      try forEachScannedChunk(start..<end) { chunk, scans, subtrees in
        for i in 0..<chunk.count {
          guard chunk.indexes[i] == expected else {
            throw Mismatch(index: expected, reason: chunk.indexes[i] > expected ? "entry is missing" : "entry \(chunk.indexes[i]) is stored twice")
          }
          let scanned = scans[i]
          guard let fields = scanned.fields else { throw Mismatch(index: expected, reason: scanned.failure) }
          guard fields.index == expected else { throw Mismatch(index: expected, reason: "entry bytes say index \(fields.index)") }
          guard scanned.leaf == chunk.storedLeafHashes[i] else {
            throw Mismatch(index: expected, reason: "leaf hash does not match the entry bytes")
          }
          guard fields.prev == prev else {
            throw Mismatch(index: expected, reason: "prev does not match the leaf hash of entry \(expected == 0 ? "-" : String(expected - 1))")
          }
          prev = scanned.leaf
          expected += 1
          checked += 1
        }
        for (id, hash) in subtrees { range.append(subtree: hash, level: id.level) }
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

  /// One entry's scan and leaf hash, computed in parallel ahead of the sequential link checks.
  private struct ScannedEntry {
    var fields: CanonicalEntryScanner.Fields?
    var failure = ""
    var leaf = SHA256Digest.zero
  }

  /// Entries per storage read: large enough to amortize the query, small enough to keep memory flat.
  static let chunkEntries: UInt64 = 4096

  /// Reads `range` chunk by chunk — the next chunk is read while this one is scanned and hashed on every
  /// core — and hands each chunk with its scans to `body` in order.
  private func forEachScannedChunk(
    _ range: Range<UInt64>, _ body: (EntryBytesChunk, [ScannedEntry], [(NodeID, SHA256Digest)]) throws -> Void
  ) throws {
    guard !range.isEmpty else { return }
    let storage = self.storage
    let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
    func read(_ lower: UInt64) -> Prefetch {
      let prefetch = Prefetch()
      let upper = min(range.upperBound, lower + Self.chunkEntries)
      DispatchQueue.global().async {
        prefetch.result = Result { try storage.entryBytes(in: lower..<upper) }
        prefetch.done.signal()
      }
      return prefetch
    }
    var lower = range.lowerBound
    var next = read(lower)
    while lower < range.upperBound {
      let chunkStart = lower
      next.done.wait()
      let chunk = try next.result!.get()
      lower = min(range.upperBound, lower + Self.chunkEntries)
      if lower < range.upperBound { next = read(lower) }
      var scans = [ScannedEntry](repeating: ScannedEntry(), count: chunk.count)
      // Each worker also folds its slice's leaves into aligned perfect subtrees, so the caller only
      // appends a handful of subtree roots per chunk instead of hashing every interior node itself.
      let slices = (0..<workers).map { w in (w * chunk.count / workers)..<((w + 1) * chunk.count / workers) }
      var pieces = [[(NodeID, SHA256Digest)]](repeating: [], count: workers)
      scans.withUnsafeMutableBufferPointer { buffer in
        pieces.withUnsafeMutableBufferPointer { pieceBuffer in
          let out = DisjointWrites(buffer)
          let pieceOut = DisjointWrites(pieceBuffer)
          DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let slice = slices[worker]
            for i in slice {
              chunk.withEntry(i) { bytes in
                switch CanonicalEntryScanner.scan(bytes) {
                case let .success(fields): out.buffer[i].fields = fields
                case let .failure(failure): out.buffer[i].failure = failure.reason
                }
                out.buffer[i].leaf = MerkleHashing.leafHash(bytes)
              }
            }
            var result: [(NodeID, SHA256Digest)] = []
            let base = chunkStart + UInt64(slice.lowerBound)
            for id in NodeID.decompose(base, chunkStart + UInt64(slice.upperBound)) {
              let leaves = (Int(id.leafRange.lowerBound - chunkStart))..<(Int(id.leafRange.upperBound - chunkStart))
              result.append((id, MerkleHashing.subtreeRoot(out.buffer[leaves]) { $0.leaf }))
            }
            pieceOut.buffer[worker] = result
          }
        }
      }
      try body(chunk, scans, pieces.flatMap { $0 })
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

/// A chunk being read on another thread.
private final class Prefetch: @unchecked Sendable {
  // @unchecked Sendable: `result` is written once by the reading thread before `done` is signalled and
  // read only after waiting on `done`.
  var result: Result<EntryBytesChunk, any Error>?
  let done = DispatchSemaphore(value: 0)
}
