import CustosCrypto

/// The RFC 9162 §2.1.1 hashing rules: domain-separated leaf and interior node hashes.
public enum MerkleHashing {
  /// SHA-256 of the empty string: the root of the empty tree.
  public static let emptyRoot = SHA256.hash([UInt8]())

  /// SHA-256(0x00 || leaf bytes).
  @inlinable
  public static func leafHash(_ leaf: some RawBytes) -> SHA256Digest {
    leaf.withUnsafeBytes { SHA256.hash(prefixedBy: 0x00, $0) }
  }

  /// SHA-256(0x01 || left || right).
  @inlinable
  public static func nodeHash(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
    var hasher = SHA256()
    hasher.update(byte: 0x01)
    hasher.update(left)
    hasher.update(right)
    return hasher.finalize()
  }
}

extension MerkleHashing {
  /// The root of a perfect subtree over the `leaf` hashes of `entries` (a power-of-two count).
  static func subtreeRoot<Entries: Collection>(_ entries: Entries, leaf: (Entries.Element) -> SHA256Digest) -> SHA256Digest {
    precondition(entries.count > 0 && entries.count & (entries.count - 1) == 0, "not a perfect subtree")
    var level = entries.map(leaf)
    while level.count > 1 {
      for i in 0..<(level.count / 2) { level[i] = nodeHash(level[2 * i], level[2 * i + 1]) }
      level.removeLast(level.count / 2)
    }
    return level[0]
  }
}

/// A perfect, aligned subtree: the `index`-th subtree of height `level`, covering leaves
/// `[index << level, (index + 1) << level)`. Level 0 nodes are leaves.
public struct NodeID: Hashable, Sendable, CustomStringConvertible {
  public var level: UInt8
  public var index: UInt64

  public init(level: UInt8, index: UInt64) {
    self.level = level
    self.index = index
  }

  /// The leaves this subtree covers.
  public var leafRange: Range<UInt64> { (index << UInt64(level))..<((index + 1) << UInt64(level)) }

  public var description: String { "(\(level),\(index))" }

  /// The perfect aligned subtrees that exactly cover `[begin, end)`, left to right (sizes grow, then shrink).
  public static func decompose(_ begin: UInt64, _ end: UInt64) -> [NodeID] {
    precondition(begin <= end)
    var left: [NodeID] = []
    var right: [NodeID] = []
    var begin = begin
    var end = end
    var level: UInt8 = 0
    // Peel the lowest set bits off both edges until they meet: the classic compact-range split.
    while begin < end {
      let step = UInt64(1) << UInt64(level)
      if begin & step != 0, begin + step <= end {
        left.append(NodeID(level: level, index: begin >> UInt64(level)))
        begin += step
      }
      if end & step != 0, begin + step <= end {
        end -= step
        right.append(NodeID(level: level, index: end >> UInt64(level)))
      }
      level += 1
    }
    return left + right.reversed()
  }
}
