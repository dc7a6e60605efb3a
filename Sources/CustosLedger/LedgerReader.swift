import CustosCrypto
import Dispatch

/// Entries, queries and proofs served from storage, bounded by the latest durable checkpoint.
extension Ledger {
  /// The tree size of the latest checkpoint.
  public func checkpointSize() -> UInt64 { latestCheckpoint?.checkpoint.size ?? 0 }

  /// The latest checkpoint any writer on this ledger's store has signed — nodes sharing one database
  /// sign checkpoints this one has not seen — checked against the ledger key; this node's own when
  /// storage holds nothing newer. Reads storage off the cooperative threads.
  public nonisolated func freshestCheckpoint() async throws -> SignedCheckpoint? {
    let storage = self.storage
    guard let verifier = self.verifier else { return nil }
    let stored = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SignedCheckpoint?, any Error>) in
      DispatchQueue.global().async {
        continuation.resume(with: Result {
          guard let tip = try storage.tip() else { return nil }
          return try SignedCheckpoint(note: tip.checkpointNote, verifier: verifier)
        })
      }
    }
    let own = await latestCheckpoint
    guard let stored, stored.checkpoint.size > own?.checkpoint.size ?? 0 else { return own }
    return stored
  }

  /// The tree size of the freshest checkpoint (see `freshestCheckpoint`).
  public nonisolated func freshestCheckpointSize() async throws -> UInt64 {
    try await freshestCheckpoint()?.checkpoint.size ?? 0
  }

  /// Entries in `[start, end)`; `end == nil` means the current size.
  public nonisolated func entries(from start: UInt64, to end: UInt64?, size: UInt64, _ body: (StoredEntry) throws -> Bool) throws {
    let end = end ?? size
    guard start <= end else { throw LedgerError.outOfRange("start \(start) is after end \(end)") }
    guard end <= size else { throw LedgerError.outOfRange("end \(end) is beyond the log size \(size)") }
    try storage.forEachEntry(in: start..<end, body)
  }

  /// The indexes of the entries recorded in `[from, to)` (nanoseconds), within the first `size` entries.
  public nonisolated func indexRange(timeFrom from: Int64, timeTo to: Int64, size: UInt64) throws -> Range<UInt64> {
    guard from < to else { throw LedgerError.invalidArgument("the time range is empty: from must be before to") }
    let lower = min(try storage.firstIndex(atOrAfter: from), size)
    let upper = min(try storage.firstIndex(atOrAfter: to), size)
    return lower..<max(lower, upper)
  }

  /// Entries matching `query`.
  public nonisolated func query(_ query: LedgerQuery) throws -> [StoredEntry] {
    guard (1...LedgerQuery.maximumLimit).contains(query.limit) else {
      throw LedgerError.invalidArgument("limit must be 1-\(LedgerQuery.maximumLimit), got \(query.limit)")
    }
    if let from = query.timeFrom, let to = query.timeTo, from > to {
      throw LedgerError.invalidArgument("time range starts after it ends")
    }
    return try storage.query(query)
  }

  /// An RFC 9162 inclusion proof for `index` in the tree of `treeSize` leaves (≤ the checkpoint size).
  public nonisolated func inclusionProof(index: UInt64, treeSize: UInt64, checkpointSize: UInt64) throws -> InclusionProofResult {
    guard treeSize <= checkpointSize else {
      throw LedgerError.outOfRange("tree_size \(treeSize) is beyond the latest checkpoint size \(checkpointSize)")
    }
    guard index < treeSize else { throw LedgerError.outOfRange("index \(index) is not below tree_size \(treeSize)") }
    let plan = MerkleProofs.inclusionPlan(index: index, size: treeSize)
    let rootPlan = [0..<treeSize]
    let leaf = NodeID(level: 0, index: index)
    let hashes = try storage.nodeHashes(MerkleProofs.nodes(for: plan + rootPlan) + [leaf])
    guard let leafHash = hashes[leaf] else { throw LedgerError.corrupted(index: index, reason: "entry is missing") }
    return InclusionProofResult(
      index: index, treeSize: treeSize, leafHash: leafHash,
      hashes: try MerkleProofs.resolve(plan, hashes: hashes), rootHash: try MerkleProofs.resolve(rootPlan, hashes: hashes)[0])
  }

  /// An RFC 9162 consistency proof between two tree sizes (≤ the checkpoint size).
  public nonisolated func consistencyProof(oldSize: UInt64, newSize: UInt64, checkpointSize: UInt64) throws -> ConsistencyProofResult {
    guard oldSize <= newSize else { throw LedgerError.invalidArgument("old_size \(oldSize) is greater than new_size \(newSize)") }
    guard newSize <= checkpointSize else {
      throw LedgerError.outOfRange("new_size \(newSize) is beyond the latest checkpoint size \(checkpointSize)")
    }
    let plan = MerkleProofs.consistencyPlan(oldSize: oldSize, newSize: newSize)
    let roots = [0..<oldSize, 0..<newSize]
    let hashes = try storage.nodeHashes(MerkleProofs.nodes(for: plan + roots))
    let resolvedRoots = try MerkleProofs.resolve(roots, hashes: hashes)
    return ConsistencyProofResult(
      oldSize: oldSize, newSize: newSize, hashes: try MerkleProofs.resolve(plan, hashes: hashes),
      oldRootHash: resolvedRoots[0], newRootHash: resolvedRoots[1])
  }
}

public struct InclusionProofResult: Sendable, Equatable {
  public var index: UInt64
  public var treeSize: UInt64
  public var leafHash: SHA256Digest
  public var hashes: [SHA256Digest]
  public var rootHash: SHA256Digest
}

public struct ConsistencyProofResult: Sendable, Equatable {
  public var oldSize: UInt64
  public var newSize: UInt64
  public var hashes: [SHA256Digest]
  public var oldRootHash: SHA256Digest
  public var newRootHash: SHA256Digest
}
