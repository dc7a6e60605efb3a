import CustosCrypto

/// Where the log ends, as stored: everything a writer needs to extend it without reading the tree.
///
/// Stores write it with every batch and hand it to the writer under their write lock, so several
/// writers (nodes sharing one database) extend one log: each builds its batch on the tip it finds.
/// A tip is data from storage, not trusted: the ledger checks its checkpoint signature and that its
/// compact range has the signed root before building on it.
public struct LedgerTip: Sendable, Equatable {
  /// The number of entries.
  public var size: UInt64
  /// The compact range of all leaves (the roots of the perfect subtrees, left to right).
  public var rangeHashes: [SHA256Digest]
  public var lastLeafHash: SHA256Digest
  /// Time of the last entry, nanoseconds since the epoch: the next batch's time is at least this.
  public var lastTime: Int64
  /// The signed note of the checkpoint at `size`.
  public var checkpointNote: String

  public init(size: UInt64, rangeHashes: [SHA256Digest], lastLeafHash: SHA256Digest, lastTime: Int64, checkpointNote: String) {
    self.size = size
    self.rangeHashes = rangeHashes
    self.lastLeafHash = lastLeafHash
    self.lastTime = lastTime
    self.checkpointNote = checkpointNote
  }
}
