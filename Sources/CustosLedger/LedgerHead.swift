import CustosCrypto

/// The append position of the ledger: the compact range of all leaves, the last leaf hash and time.
struct LedgerHead: Sendable {
  var range = CompactRange()
  var lastLeafHash = SHA256Digest.zero
  var lastTime: Int64 = 0
  var checkpoint: SignedCheckpoint?

  var size: UInt64 { range.size }

  /// The tip that describes this head (nil while the log is empty).
  var tip: LedgerTip? {
    checkpoint.map {
      LedgerTip(size: size, rangeHashes: range.hashes, lastLeafHash: lastLeafHash, lastTime: lastTime, checkpointNote: $0.note)
    }
  }

  /// Whether `tip` is where this head is (same size and last leaf): a batch built here fits on it.
  func isAt(_ tip: LedgerTip?) -> Bool {
    guard let tip else { return size == 0 }
    return tip.size == size && tip.lastLeafHash == lastLeafHash && tip.checkpointNote == checkpoint?.note
  }

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

extension LedgerHead {
  /// The head a stored tip describes, after checking its checkpoint's signature and that its compact
  /// range has the signed root: a writer never builds on a tip that the ledger key did not sign.
  init(tip: LedgerTip?, verifier: NoteVerifier) throws(LedgerError) {
    guard let tip else {
      self.init()
      return
    }
    let checkpoint: SignedCheckpoint
    do { checkpoint = try SignedCheckpoint(note: tip.checkpointNote, verifier: verifier) } catch {
      throw .corrupted(index: tip.size == 0 ? 0 : tip.size - 1, reason: "the stored tip's checkpoint does not verify: \(error)")
    }
    let range = try CompactRange(size: tip.size, hashes: tip.rangeHashes)
    guard checkpoint.checkpoint.size == tip.size, range.rootHash == checkpoint.checkpoint.rootHash else {
      throw .corrupted(index: tip.size == 0 ? 0 : tip.size - 1, reason: "the stored tip does not match its signed checkpoint")
    }
    self.init(range: range, lastLeafHash: tip.lastLeafHash, lastTime: tip.lastTime, checkpoint: checkpoint)
  }
}
