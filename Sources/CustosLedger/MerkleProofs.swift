import CustosCrypto

/// Builds RFC 9162 inclusion and consistency proofs from stored perfect-subtree hashes.
///
/// A proof is planned as a list of elements, each the hash of a range `[begin, end)`. A range that is a
/// perfect aligned subtree is one stored hash; the single ragged range on the right edge is folded from
/// its O(log n) perfect pieces. So a proof reads O(log n) stored hashes and never rebuilds a tree.
public enum MerkleProofs {
  /// The ranges whose hashes form the audit path of `index` in a tree of `size` leaves, bottom-up.
  public static func inclusionPlan(index: UInt64, size: UInt64) -> [Range<UInt64>] {
    precondition(index < size)
    var plan: [Range<UInt64>] = []
    inclusionPath(index, 0, size, &plan)
    return plan
  }

  private static func inclusionPath(_ m: UInt64, _ begin: UInt64, _ end: UInt64, _ plan: inout [Range<UInt64>]) {
    let n = end - begin
    guard n > 1 else { return }
    let k = largestPowerOfTwo(below: n)
    if m < begin + k {
      inclusionPath(m, begin, begin + k, &plan)
      plan.append((begin + k)..<end)
    } else {
      inclusionPath(m, begin + k, end, &plan)
      plan.append(begin..<(begin + k))
    }
  }

  /// The ranges whose hashes form the consistency proof from `oldSize` to `newSize` (RFC 9162 §2.1.4.1).
  public static func consistencyPlan(oldSize: UInt64, newSize: UInt64) -> [Range<UInt64>] {
    precondition(oldSize <= newSize)
    guard oldSize > 0, oldSize < newSize else { return [] }
    var plan: [Range<UInt64>] = []
    subproof(oldSize, 0, newSize, true, &plan)
    return plan
  }

  private static func subproof(_ m: UInt64, _ begin: UInt64, _ end: UInt64, _ complete: Bool, _ plan: inout [Range<UInt64>]) {
    let n = end - begin
    if m == n {
      if !complete { plan.append(begin..<end) }
      return
    }
    let k = largestPowerOfTwo(below: n)
    if m <= k {
      subproof(m, begin, begin + k, complete, &plan)
      plan.append((begin + k)..<end)
    } else {
      subproof(m - k, begin + k, end, false, &plan)
      plan.append(begin..<(begin + k))
    }
  }

  /// The largest power of two strictly less than `n` (n ≥ 2).
  static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
    UInt64(1) << UInt64(63 - (n - 1).leadingZeroBitCount)
  }

  /// Every stored node the plan needs.
  public static func nodes(for plan: [Range<UInt64>]) -> [NodeID] {
    plan.flatMap { NodeID.decompose($0.lowerBound, $0.upperBound) }
  }

  /// Folds a planned range from its perfect pieces, which `lookup` supplies.
  public static func hash(of range: Range<UInt64>, lookup: (NodeID) throws(LedgerError) -> SHA256Digest) throws(LedgerError) -> SHA256Digest {
    let pieces = NodeID.decompose(range.lowerBound, range.upperBound)
    guard var hash = try pieces.last.map(lookup) else { return MerkleHashing.emptyRoot }
    for piece in pieces.dropLast().reversed() { hash = MerkleHashing.nodeHash(try lookup(piece), hash) }
    return hash
  }

  /// Resolves a plan against a batch lookup of stored hashes.
  public static func resolve(_ plan: [Range<UInt64>], hashes: [NodeID: SHA256Digest]) throws(LedgerError) -> [SHA256Digest] {
    var result: [SHA256Digest] = []
    result.reserveCapacity(plan.count)
    for range in plan {
      result.append(try hash(of: range) { (id) throws(LedgerError) -> SHA256Digest in
        guard let h = hashes[id] else { throw .corrupted(index: id.leafRange.lowerBound, reason: "stored Merkle node \(id) is missing") }
        return h
      })
    }
    return result
  }
}
