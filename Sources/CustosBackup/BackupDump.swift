import CustosLedger

/// Writes a whole deployment's backup from its stores: the log up to the tip read first (the log only
/// grows, so what lies below the tip never changes while it is read) — or up to `size`, a checkpoint
/// witnesses cosigned, whose `cosignatures` the manifest then carries — in chunks, then `contents`.
public enum BackupDump {
  public static func write(
    storage: any LedgerStorage, contents: BackupContents, origin: String, verifierKey: String, createdAt: Int64,
    sign: ([UInt8]) -> [UInt8], sink: @escaping ([UInt8]) throws -> Void, upTo cosigned: (size: UInt64, cosignatures: [String])? = nil,
    progress: (UInt64, UInt64) -> Void = { _, _ in }
  ) throws -> BackupManifest {
    guard let tip = try storage.tip() else { throw BackupError(part: "ledger", "the log is empty: nothing to back up") }
    let size = min(cosigned?.size ?? tip.size, tip.size)
    var writer = try BackupWriter(origin: origin, verifierKey: verifierKey, sink: sink)
    try writer.beginLedger()
    // Each chunk is written while the next one is read, on the other core.
    func read(_ lower: UInt64) throws -> (EntryBytesChunk, [SignedCheckpoint])? {
      guard lower < size else { return nil }
      let upper = min(size, lower + 4096)
      let chunk = try storage.entryBytes(in: lower..<upper)
      guard chunk.count == Int(upper - lower), chunk.indexes.first == lower, chunk.indexes.last == upper - 1 else {
        throw BackupError(part: "ledger", index: lower, "the store is missing entries between \(lower) and \(upper): run custos ledger verify")
      }
      return (chunk, try storage.checkpoints(sizes: (lower + 1)...upper))
    }
    var next = try read(0)
    var lower: UInt64 = 0
    while let (chunk, checkpoints) = next {
      writer.expect(checkpoints)
      let upper = lower + UInt64(chunk.count)
      (_, next) = try ConcurrentJobs.overlapping({
        for i in 0..<chunk.count {
          try chunk.withEntry(i) { try writer.append(entry: $0, storedLeafHash: chunk.storedLeafHashes[i]) }
        }
      }, { try read(upper) })
      progress(upper, size)
      lower = upper
    }
    return try writer.finish(contents: contents, createdAt: createdAt, cosignatures: cosigned?.cosignatures ?? [], sign: sign)
  }
}
