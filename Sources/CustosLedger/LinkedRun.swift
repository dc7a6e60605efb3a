import CustosCrypto

/// A run of consecutive entries that one core scanned, leaf-hashed and linked to each other: all the
/// in-order merge needs to join it to the runs before it, without keeping anything per entry.
public struct LinkedRun: Sendable {
  /// Where its entries lie in what the run was cut from: the byte offsets of its lines in a file's
  /// chunk, or its entries' positions in a storage chunk.
  public var span: Range<Int>
  /// Entries linked so far.
  public private(set) var count = 0
  /// The first entry's fields (nil while the run is empty).
  public private(set) var first: CanonicalEntryScanner.Fields?
  public private(set) var firstLeaf = SHA256Digest.zero
  public private(set) var lastLeaf = SHA256Digest.zero
  /// Every entry scanned as canonical, was accepted, and carries the index after the entry before it
  /// and that entry's leaf hash as `prev`. When false the run stopped early: re-check it one entry at a
  /// time for the exact failure.
  public private(set) var intact = true

  public init(span: Range<Int>) { self.span = span }

  /// Scans, leaf-hashes and links the next entry, which `accept` may still refuse on its fields and
  /// leaf hash (a time range, a stored hash); false (and the run is no longer intact) when it breaks
  /// the chain.
  @inline(__always)
  public mutating func append(
    _ entry: UnsafeRawBufferPointer, accept: (CanonicalEntryScanner.Fields, SHA256Digest) -> Bool = { _, _ in true }
  ) -> Bool {
    guard intact, case let .success(fields) = CanonicalEntryScanner.scan(entry) else {
      intact = false
      return false
    }
    let leaf = MerkleHashing.leafHash(entry)
    guard accept(fields, leaf), count == 0 || (fields.index == first!.index &+ UInt64(count) && fields.prev == lastLeaf) else {
      intact = false
      return false
    }
    if count == 0 {
      first = fields
      firstLeaf = leaf
    }
    lastLeaf = leaf
    count += 1
    return true
  }

  /// Marks the run broken by something its caller checked.
  public mutating func breakChain() { intact = false }

  /// Whether the run is intact and continues a chain whose next entry has index `next` and `prev`
  /// hash `previous` (nil: the chain has not started, so any `prev` is accepted).
  public func continues(next: UInt64, previous: SHA256Digest?) -> Bool {
    guard intact, let first, first.index == next else { return false }
    return previous.map { first.prev == $0 } ?? true
  }
}
