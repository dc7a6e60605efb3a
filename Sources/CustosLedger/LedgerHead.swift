import CustosCrypto

/// The append position of the ledger: the compact range of all leaves, the last leaf hash and time.
struct LedgerHead: Sendable {
  var range = CompactRange()
  var lastLeafHash = SHA256Digest.zero
  var lastTime: Int64 = 0
  var checkpoint: SignedCheckpoint?

  var size: UInt64 { range.size }

  /// Rebuilds the head from storage and checks it against the latest signed checkpoint.
  static func load(from storage: any LedgerStorage, verifier: NoteVerifier) throws(LedgerError) -> LedgerHead {
    do {
      guard let stored = try storage.latestCheckpoint() else { return LedgerHead() }
      let checkpoint = try SignedCheckpoint(note: stored.note, verifier: verifier)
      let size = checkpoint.checkpoint.size
      let ids = CompactRange.nodeIDs(size: size) + [NodeID(level: 0, index: size - 1)]
      let hashes = try storage.nodeHashes(ids)
      var rangeHashes: [SHA256Digest] = []
      for id in ids.dropLast() {
        guard let h = hashes[id] else { throw LedgerError.corrupted(index: id.leafRange.lowerBound, reason: "stored Merkle node \(id) is missing") }
        rangeHashes.append(h)
      }
      let range = try CompactRange(size: size, hashes: rangeHashes)
      guard range.rootHash == checkpoint.checkpoint.rootHash else {
        throw LedgerError.corrupted(index: size - 1, reason: "stored tree does not match the latest signed checkpoint")
      }
      guard let last = hashes[ids.last!] else { throw LedgerError.corrupted(index: size - 1, reason: "last entry is missing") }
      var lastTime: Int64 = 0
      try storage.forEachEntry(in: (size - 1)..<size) { entry in
        lastTime = entry.time
        return false
      }
      return LedgerHead(range: range, lastLeafHash: last, lastTime: lastTime, checkpoint: checkpoint)
    } catch let error as LedgerError {
      throw error
    } catch {
      throw .unavailable("cannot read the ledger: \(error)")
    }
  }
}
