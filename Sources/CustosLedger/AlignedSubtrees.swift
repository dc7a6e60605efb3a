import CustosCrypto

/// The interior nodes of one perfect, aligned block of leaves (2^`height` leaves starting at a multiple of
/// it), hashed in the order `CompactRange.append(leaf:)` closes them: for each leaf, its merges inside the
/// block, lowest level first. Blocks are independent, so a verifier hashes them on every core and then
/// appends their leaves in order without hashing again (`CompactRange.append(leaf:merged:closed:)`).
public struct AlignedSubtrees: Sendable {
  /// 2^`height` leaves per block.
  public static let height: UInt8 = 8
  public static let leaves = 1 << Int(height)

  /// Every merge of the block, leaf by leaf.
  public private(set) var merges: [SHA256Digest] = []

  /// Hashes the block whose leaf hashes `leaf(0) ... leaf(leaves - 1)` gives.
  public init(leaf: (Int) -> SHA256Digest) {
    merges.reserveCapacity(Self.leaves - 1)
    var stack: [SHA256Digest] = []
    stack.reserveCapacity(Int(Self.height) + 1)
    for position in 0..<Self.leaves {
      var hash = leaf(position)
      var carry = position
      while carry & 1 == 1 {
        hash = MerkleHashing.nodeHash(stack.removeLast(), hash)
        merges.append(hash)
        carry >>= 1
      }
      stack.append(hash)
    }
  }

  /// How many merges the leaf at `position` in its block makes inside the block.
  @inline(__always)
  public static func mergeCount(at position: Int) -> Int { (position + 1).trailingZeroBitCount }

  /// The leaf at `position`'s merges inside the block, lowest level first.
  @inline(__always)
  public func merges(at position: Int) -> ArraySlice<SHA256Digest> {
    // After `position` leaves the fold holds one subtree per set bit, each merge having removed one.
    let before = position - position.nonzeroBitCount
    return merges[before..<(before + Self.mergeCount(at: position))]
  }
}
