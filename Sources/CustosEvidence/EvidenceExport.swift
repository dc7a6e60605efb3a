import CustosCrypto
import CustosLedger

/// Gathers what a bundle needs from a ledger: the entries of the time range, the latest checkpoint, and
/// the proofs tying them together.
public enum EvidenceExport {
  /// Largest range one export holds (the files are built in memory).
  public static let maximumEntries: UInt64 = 2_000_000

  public static func inputs(
    ledger: Ledger, fromTime: Int64, toTime: Int64, kinds: [String], actors: [String], exportedBy: String, exportedAt: Int64
  ) async throws -> EvidenceBuilder.Inputs {
    guard fromTime < toTime else { throw LedgerError.invalidArgument("from must be before to") }
    guard let checkpoint = await ledger.latestCheckpoint else {
      throw LedgerError.outOfRange("the ledger is empty: nothing to export")
    }
    let size = checkpoint.checkpoint.size
    let range = try ledger.indexRange(timeFrom: fromTime, timeTo: toTime, size: size)
    guard !range.isEmpty else {
      throw LedgerError.outOfRange("no entries were recorded in the range (the log holds \(size) entries up to its latest checkpoint)")
    }
    guard UInt64(range.count) <= maximumEntries else {
      throw LedgerError.invalidArgument("the range holds \(range.count) entries, over the export limit of \(maximumEntries): export a shorter period")
    }
    var entries: [[UInt8]] = []
    entries.reserveCapacity(range.count)
    try ledger.entries(from: range.lowerBound, to: range.upperBound, size: size) { entry in
      entries.append(entry.canonical)
      return true
    }
    guard UInt64(entries.count) == UInt64(range.count) else {
      throw LedgerError.corrupted(index: range.lowerBound + UInt64(entries.count), reason: "an entry is missing from storage")
    }
    let first = range.lowerBound
    let last = range.upperBound - 1
    // The newest signed checkpoint at or before the start of the range, if one exists (checkpoints are
    // signed per write batch).
    var start: SignedCheckpoint?
    var consistency: [SHA256Digest] = []
    if first > 0, let anchor = try ledger.storage.checkpoints(sizes: 1...first).last {
      start = anchor
      consistency = try ledger.consistencyProof(oldSize: anchor.checkpoint.size, newSize: size, checkpointSize: size).hashes
    }
    let proofs = EvidenceProofs(
      treeSize: size, firstIndex: first, firstInclusion: try ledger.inclusionProof(index: first, treeSize: size, checkpointSize: size).hashes,
      lastIndex: last, lastInclusion: try ledger.inclusionProof(index: last, treeSize: size, checkpointSize: size).hashes,
      startCheckpoint: start?.note, consistency: consistency)
    return EvidenceBuilder.Inputs(
      origin: checkpoint.checkpoint.origin, verifierKey: ledger.verifier.verifierKey, fromTime: fromTime, toTime: toTime,
      entries: entries, firstIndex: first, checkpoint: checkpoint, proofs: proofs, exportedAt: exportedAt, exportedBy: exportedBy,
      kinds: kinds, actors: actors)
  }
}
