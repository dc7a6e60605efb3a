import CustosCrypto

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
      var range = try storedRange(0, start)
      var prev = SHA256Digest.zero
      if start > 0 { prev = try recomputedLeafHash(start - 1) }
      // Intermediate checkpoints localize a rewrite that kept every link consistent.
      var intermediate = try storage.checkpoints(sizes: (start + 1)...max(start + 1, end)).filter { $0.checkpoint.size <= end }[...]
      var lastMatchingCheckpoint = start
      var expected = start
      try storage.forEachEntry(in: start..<end) { (entry) throws -> Bool in
        guard entry.index == expected else {
          throw Mismatch(index: expected, reason: entry.index > expected ? "entry is missing" : "entry \(entry.index) is stored twice")
        }
        let leaf = try checkEntry(entry, expectedIndex: expected, prev: prev)
        range.append(leaf: leaf)
        prev = leaf
        expected += 1
        checked += 1
        while let next = intermediate.first, next.checkpoint.size <= expected {
          intermediate.removeFirst()
          if next.checkpoint.size == expected {
            guard range.rootHash == next.checkpoint.rootHash else {
              let genuine = (try? SignedCheckpoint(note: next.note, verifier: verifier)) != nil
              throw Mismatch(
                index: lastMatchingCheckpoint,
                reason: genuine
                  ? "entries \(lastMatchingCheckpoint)..<\(expected) do not match the signed checkpoint of size \(expected)"
                  : "stored checkpoint of size \(expected) has no valid signature")
            }
            lastMatchingCheckpoint = expected
          }
        }
        if checked % 4096 == 0 { progress(checked, end - start) }
        return true
      }
      guard expected == end else { throw Mismatch(index: expected, reason: "entry is missing (log ends at \(expected), checkpoint covers \(size))") }
      for id in NodeID.decompose(end, size) {
        guard let hash = try storage.nodeHashes([id])[id] else {
          throw Mismatch(index: id.leafRange.lowerBound, reason: "stored Merkle node \(id) is missing")
        }
        range.append(subtree: hash, level: id.level)
      }
      guard range.rootHash == checkpoint.rootHash else {
        throw Mismatch(index: lastMatchingCheckpoint, reason: "Merkle root of the log does not match the signed checkpoint of size \(size)")
      }
    } catch let mismatch as Mismatch {
      return VerificationReport(checked: checked, failure: (mismatch.index, mismatch.reason), checkpoint: checkpoint)
    }
    progress(checked, end - start)
    return VerificationReport(checked: checked, failure: nil, checkpoint: checkpoint)
  }

  private func checkEntry(_ entry: StoredEntry, expectedIndex: UInt64, prev: SHA256Digest) throws -> SHA256Digest {
    let parsed: LedgerEntry
    do { parsed = try LedgerEntry(canonicalBytes: entry.canonical) } catch let LedgerError.corrupted(_, reason) {
      throw Mismatch(index: expectedIndex, reason: reason)
    }
    guard parsed.index == expectedIndex else {
      throw Mismatch(index: expectedIndex, reason: "entry bytes say index \(parsed.index)")
    }
    let leaf = MerkleHashing.leafHash(entry.canonical)
    guard leaf == entry.leafHash else { throw Mismatch(index: expectedIndex, reason: "leaf hash does not match the entry bytes") }
    guard parsed.prev == prev else {
      throw Mismatch(index: expectedIndex, reason: "prev does not match the leaf hash of entry \(expectedIndex == 0 ? "-" : String(expectedIndex - 1))")
    }
    return leaf
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
