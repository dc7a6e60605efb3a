import CustosCrypto

/// The right edge of a Merkle tree over leaves `[0, size)`: one hash per set bit of `size`, the roots of
/// the perfect subtrees that make it up. Appending is O(log n) and yields the subtrees that close.
public struct CompactRange: Sendable, Equatable {
  /// Number of leaves covered.
  public private(set) var size: UInt64 = 0
  /// Roots of the perfect subtrees, largest (leftmost) first.
  public private(set) var hashes: [SHA256Digest] = []

  public init() {}

  /// Rebuilds a range from the stored roots of the perfect subtrees of `[0, size)`, largest first.
  public init(size: UInt64, hashes: [SHA256Digest]) throws(LedgerError) {
    guard hashes.count == size.nonzeroBitCount else {
      throw .corrupted(index: size, reason: "compact range of size \(size) needs \(size.nonzeroBitCount) hashes, got \(hashes.count)")
    }
    self.size = size
    self.hashes = hashes
  }

  /// The NodeIDs whose hashes `init(size:hashes:)` needs, in the order it needs them.
  public static func nodeIDs(size: UInt64) -> [NodeID] { NodeID.decompose(0, size) }

  /// Appends one leaf hash; calls `closed` for every perfect subtree that completes (level ≥ 1).
  public mutating func append(leaf: SHA256Digest, closed: (NodeID, SHA256Digest) -> Void = { _, _ in }) {
    append(subtree: leaf, level: 0, closed: closed)
  }

  /// Appends one leaf hash whose first `merged.count` merges were hashed elsewhere — the same hashes,
  /// lowest level first, from the same leaves (`AlignedSubtrees`, on another core) — and hashes the rest.
  public mutating func append(leaf: SHA256Digest, merged: ArraySlice<SHA256Digest>, closed: (NodeID, SHA256Digest) -> Void) {
    append(subtree: leaf, level: 0, merged: merged, closed: closed)
  }

  /// Appends the root of a perfect subtree of height `level` whose first leaf is `size`
  /// (`size` must be a multiple of 2^level).
  public mutating func append(
    subtree hash: SHA256Digest, level: UInt8, merged: ArraySlice<SHA256Digest> = [], closed: (NodeID, SHA256Digest) -> Void = { _, _ in }
  ) {
    precondition(size & ((UInt64(1) << UInt64(level)) - 1) == 0, "subtree is not aligned to the range's end")
    let added = UInt64(1) << UInt64(level)
    var hash = hash
    var level = level
    var index = size >> UInt64(level)
    var known = merged.startIndex
    // Merge while the subtree to our left has the same height, like carrying in binary addition.
    while index & 1 == 1 {
      let left = hashes.removeLast()
      if known < merged.endIndex {
        hash = merged[known]
        known += 1
      } else {
        hash = MerkleHashing.nodeHash(left, hash)
      }
      level += 1
      index >>= 1
      closed(NodeID(level: level, index: index), hash)
    }
    hashes.append(hash)
    size += added
  }

  /// The Merkle tree hash of `[0, size)` (RFC 9162 MTH).
  public var rootHash: SHA256Digest {
    guard var root = hashes.last else { return MerkleHashing.emptyRoot }
    for hash in hashes.dropLast().reversed() { root = MerkleHashing.nodeHash(hash, root) }
    return root
  }
}
