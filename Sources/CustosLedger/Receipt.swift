import CustosCrypto

/// Proof of a durable append: where the entry landed.
public struct LedgerReceipt: Sendable, Equatable {
  public var index: UInt64
  public var leafHash: SHA256Digest
  public var time: Int64

  public init(index: UInt64, leafHash: SHA256Digest, time: Int64) {
    self.index = index
    self.leafHash = leafHash
    self.time = time
  }
}
