import CustosCrypto
import CustosLedger

/// Gathers what a bundle needs from a ledger: the entries of the time range, the latest checkpoint, and
/// the proofs tying them together.
public enum EvidenceExport {
  /// What a bundle proves, gathered before its entries are streamed: the range, the latest checkpoint
  /// and the proofs.
  public struct Plan: Sendable {
    public let range: Range<UInt64>
    public let checkpoint: SignedCheckpoint
    public let proofs: EvidenceProofs
    public let verifierKey: String
  }

  /// `witnessed`: the newest checkpoint witnesses cosigned, with their cosignature lines — the bundle
  /// then ends there and its `checkpoint.txt` carries the cosignatures; else the freshest checkpoint.
  public static func plan(
    ledger: Ledger, fromTime: Int64, toTime: Int64, witnessed: (size: UInt64, cosignatures: [String])? = nil
  ) async throws -> Plan {
    guard fromTime < toTime else { throw LedgerError.invalidArgument("from must be before to") }
    var newest = try await ledger.freshestCheckpoint()
    if let witnessed, let verifier = ledger.verifier, let cosigned = try ledger.storage.checkpoints(sizes: witnessed.size...witnessed.size).first {
      newest = try SignedCheckpoint(note: cosigned.note + witnessed.cosignatures.joined(), verifier: verifier)
    }
    guard let checkpoint = newest else {
      throw LedgerError.outOfRange("the ledger is empty: nothing to export")
    }
    let size = checkpoint.checkpoint.size
    let range = try ledger.indexRange(timeFrom: fromTime, timeTo: toTime, size: size)
    guard !range.isEmpty else {
      throw LedgerError.outOfRange("no entries were recorded in the range (the log holds \(size) entries up to its latest checkpoint)")
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
    guard let verifier = ledger.verifier else { throw LedgerError.unavailable("the ledger has no verifier key yet") }
    return Plan(range: range, checkpoint: checkpoint, proofs: proofs, verifierKey: verifier.verifierKey)
  }

  /// Streams the whole bundle to `write(file, bytes, endOfFile)`: entries in chunks of 4,096 read from
  /// storage, then the other files. `before` runs once the plan is known and before any byte is written
  /// (the caller records the export there).
  public static func stream(
    ledger: Ledger, fromTime: Int64, toTime: Int64, kinds: [String], actors: [String], exportedBy: String, exportedAt: Int64,
    sign: ([UInt8]) -> [UInt8], witnessed: (size: UInt64, cosignatures: [String])? = nil, before: (Plan) async throws -> Void,
    write: (String, [UInt8], Bool) async throws -> Void
  ) async throws {
    let plan = try await plan(ledger: ledger, fromTime: fromTime, toTime: toTime, witnessed: witnessed)
    try await before(plan)
    var writer = EvidenceWriter(.init(
      origin: plan.checkpoint.checkpoint.origin, verifierKey: plan.verifierKey, fromTime: fromTime, toTime: toTime,
      firstIndex: plan.range.lowerBound, exportedAt: exportedAt, exportedBy: exportedBy, kinds: kinds, actors: actors))
    var next = plan.range.lowerBound
    let size = plan.checkpoint.checkpoint.size
    while next < plan.range.upperBound {
      let end = min(plan.range.upperBound, next + 4096)
      var chunk: [UInt8] = []
      var seen: UInt64 = 0
      try ledger.entries(from: next, to: end, size: size) { entry in
        chunk += writer.line(for: entry.canonical)
        seen += 1
        return true
      }
      guard seen == end - next else { throw LedgerError.corrupted(index: next + seen, reason: "an entry is missing from storage") }
      next = end
      try await write(EvidenceBundle.entriesFile, chunk, next == plan.range.upperBound)
    }
    for (name, bytes) in writer.finish(checkpoint: plan.checkpoint, proofs: plan.proofs, sign: sign) {
      try await write(name, bytes, true)
    }
  }

  /// Everything in memory (tests): the plan plus every entry.
  public static func inputs(
    ledger: Ledger, fromTime: Int64, toTime: Int64, kinds: [String], actors: [String], exportedBy: String, exportedAt: Int64
  ) async throws -> EvidenceBuilder.Inputs {
    let plan = try await plan(ledger: ledger, fromTime: fromTime, toTime: toTime)
    var entries: [[UInt8]] = []
    try ledger.entries(from: plan.range.lowerBound, to: plan.range.upperBound, size: plan.checkpoint.checkpoint.size) { entry in
      entries.append(entry.canonical)
      return true
    }
    return EvidenceBuilder.Inputs(
      origin: plan.checkpoint.checkpoint.origin, verifierKey: plan.verifierKey, fromTime: fromTime, toTime: toTime,
      entries: entries, firstIndex: plan.range.lowerBound, checkpoint: plan.checkpoint, proofs: plan.proofs, exportedAt: exportedAt,
      exportedBy: exportedBy, kinds: kinds, actors: actors)
  }
}
