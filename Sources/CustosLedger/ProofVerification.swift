import CustosCrypto

/// Verifies RFC 9162 proofs (§2.1.3.2 inclusion, §2.1.4.2 consistency) with nothing but SHA-256.
public enum ProofVerification {
  /// Why a proof was rejected.
  public enum Failure: Error, Equatable, Sendable {
    case indexOutOfRange
    case wrongProofLength
    case rootMismatch
    case invalidSizes
    /// A proof element or root is not a 32-byte hash.
    case malformedHash
  }

  /// Checks raw proof bytes, as read from a file or the wire: every element must be a 32-byte hash.
  public static func digests(_ proof: [[UInt8]]) throws(Failure) -> [SHA256Digest] {
    var result: [SHA256Digest] = []
    for element in proof {
      guard let digest = SHA256Digest(bytes: element) else { throw .malformedHash }
      result.append(digest)
    }
    return result
  }

  /// RFC 9162's step for one proof element: true when the element is a left sibling (hash it on the
  /// left). On the tree's right edge, where the node has no right sibling, it first climbs to the level
  /// where it does.
  private static func isLeftSibling(_ fn: inout UInt64, _ sn: inout UInt64) -> Bool {
    guard fn & 1 == 1 || fn == sn else { return false }
    while fn & 1 == 0, fn != 0 {
      fn >>= 1
      sn >>= 1
    }
    return true
  }

  /// The root implied by `proof` for `leafHash` at `index` in a tree of `size` leaves.
  public static func rootFromInclusionProof(
    index: UInt64, size: UInt64, leafHash: SHA256Digest, proof: [SHA256Digest]
  ) throws(Failure) -> SHA256Digest {
    guard index < size else { throw .indexOutOfRange }
    var fn = index
    var sn = size - 1
    var r = leafHash
    for p in proof {
      guard sn != 0 else { throw .wrongProofLength }
      if isLeftSibling(&fn, &sn) {
        r = MerkleHashing.nodeHash(p, r)
      } else {
        r = MerkleHashing.nodeHash(r, p)
      }
      fn >>= 1
      sn >>= 1
    }
    guard sn == 0 else { throw .wrongProofLength }
    return r
  }

  /// Throws unless `proof` shows `leafHash` at `index` in the tree of `size` leaves with root `root`.
  public static func verifyInclusion(
    index: UInt64, size: UInt64, leafHash: SHA256Digest, proof: [SHA256Digest], root: SHA256Digest
  ) throws(Failure) {
    let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
    guard computed == root else { throw .rootMismatch }
  }

  /// Throws unless `proof` shows the tree (`oldSize`, `oldRoot`) is a prefix of (`newSize`, `newRoot`).
  /// Roots are compared as given bytes. A proof from the empty tree proves nothing and is refused.
  public static func verifyConsistency(
    oldSize: UInt64, newSize: UInt64, proof: [SHA256Digest], oldRoot: [UInt8], newRoot: [UInt8]
  ) throws(Failure) {
    guard oldSize <= newSize, oldSize > 0 else { throw .invalidSizes }
    if oldSize == newSize {
      guard proof.isEmpty else { throw .wrongProofLength }
      guard oldRoot == newRoot else { throw .rootMismatch }
      return
    }
    guard let oldRoot = SHA256Digest(bytes: oldRoot), let newRoot = SHA256Digest(bytes: newRoot) else { throw .malformedHash }
    try verifyConsistency(oldSize: oldSize, newSize: newSize, proof: proof, oldRoot: oldRoot, newRoot: newRoot)
  }

  /// Throws unless `proof` shows the tree (`oldSize`, `oldRoot`) is a prefix of (`newSize`, `newRoot`).
  public static func verifyConsistency(
    oldSize: UInt64, newSize: UInt64, proof: [SHA256Digest], oldRoot: SHA256Digest, newRoot: SHA256Digest
  ) throws(Failure) {
    guard oldSize <= newSize, oldSize > 0 else { throw .invalidSizes }
    if oldSize == newSize {
      guard proof.isEmpty else { throw .wrongProofLength }
      guard oldRoot == newRoot else { throw .rootMismatch }
      return
    }
    guard !proof.isEmpty else { throw .wrongProofLength }
    var path = proof[...]
    if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: path.startIndex) }
    var fn = oldSize - 1
    var sn = newSize - 1
    while fn & 1 == 1 {
      fn >>= 1
      sn >>= 1
    }
    var fr = path.first!
    var sr = path.first!
    for c in path.dropFirst() {
      guard sn != 0 else { throw .wrongProofLength }
      if isLeftSibling(&fn, &sn) {
        fr = MerkleHashing.nodeHash(c, fr)
        sr = MerkleHashing.nodeHash(c, sr)
      } else {
        sr = MerkleHashing.nodeHash(sr, c)
      }
      fn >>= 1
      sn >>= 1
    }
    guard sn == 0 else { throw .wrongProofLength }
    guard fr == oldRoot, sr == newRoot else { throw .rootMismatch }
  }
}
