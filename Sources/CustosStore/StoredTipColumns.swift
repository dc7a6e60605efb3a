import CustosCrypto
import CustosLedger

/// A `LedgerTip` as the columns both stores keep it in: the compact range's hashes concatenated.
struct StoredTipColumns {
  var size: Int64
  var rangeHashes: [UInt8]
  var lastLeafHash: [UInt8]
  var lastTime: Int64
  var checkpointNote: String

  init(size: Int64, rangeHashes: [UInt8], lastLeafHash: [UInt8], lastTime: Int64, checkpointNote: String) {
    self.size = size
    self.rangeHashes = rangeHashes
    self.lastLeafHash = lastLeafHash
    self.lastTime = lastTime
    self.checkpointNote = checkpointNote
  }

  init(_ tip: LedgerTip) {
    size = Int64(tip.size)
    rangeHashes = tip.rangeHashes.flatMap(\.bytes)
    lastLeafHash = tip.lastLeafHash.bytes
    lastTime = tip.lastTime
    checkpointNote = tip.checkpointNote
  }

  func tip() throws -> LedgerTip {
    guard size >= 0, rangeHashes.count % 32 == 0, let last = SHA256Digest(bytes: lastLeafHash) else {
      throw LedgerError.corrupted(index: UInt64(max(size, 1) - 1), reason: "the stored tip is malformed")
    }
    let hashes = stride(from: 0, to: rangeHashes.count, by: 32).map { SHA256Digest(bytes: Array(rangeHashes[$0..<($0 + 32)]))! }
    return LedgerTip(size: UInt64(size), rangeHashes: hashes, lastLeafHash: last, lastTime: lastTime, checkpointNote: checkpointNote)
  }

  static func missing(_ what: String) -> LedgerError { .corrupted(index: 0, reason: "cannot rebuild the ledger tip: \(what) is missing") }
}

/// Checks a store makes before writing a batch, whatever its engine.
enum LedgerBatchCheck {
  /// A batch must start where the stored log ends and end at its own tip.
  static func fits(_ batch: LedgerBatch, on stored: LedgerTip?) throws {
    let size = stored?.size ?? 0
    guard batch.entries.first?.index == size, batch.baseSize == size, batch.checkpoint.checkpoint.size == batch.tip.size else {
      throw LedgerError.unavailable("the batch does not extend the stored log of \(size) entries")
    }
  }
}
