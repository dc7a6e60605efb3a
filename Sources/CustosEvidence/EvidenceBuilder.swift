import CustosCrypto
import CustosJSON
import CustosLedger

/// Assembles a bundle's files from what the ledger serves; the daemon signs the manifest.
public enum EvidenceBuilder {
  /// What an export needs from the ledger.
  public struct Inputs: Sendable {
    public var origin: String
    public var verifierKey: String
    public var fromTime: Int64
    public var toTime: Int64
    /// The canonical bytes of entries `firstIndex...`, in order.
    public var entries: [[UInt8]]
    public var firstIndex: UInt64
    public var checkpoint: SignedCheckpoint
    public var proofs: EvidenceProofs
    public var exportedAt: Int64
    public var exportedBy: String
    public var kinds: [String]
    public var actors: [String]

    public init(
      origin: String, verifierKey: String, fromTime: Int64, toTime: Int64, entries: [[UInt8]], firstIndex: UInt64,
      checkpoint: SignedCheckpoint, proofs: EvidenceProofs, exportedAt: Int64, exportedBy: String, kinds: [String], actors: [String]
    ) {
      self.origin = origin
      self.verifierKey = verifierKey
      self.fromTime = fromTime
      self.toTime = toTime
      self.entries = entries
      self.firstIndex = firstIndex
      self.checkpoint = checkpoint
      self.proofs = proofs
      self.exportedAt = exportedAt
      self.exportedBy = exportedBy
      self.kinds = kinds
      self.actors = actors
    }
  }

  /// Every file of the bundle in memory (tests and small exports), `manifest.sig` signed by `sign`.
  public static func build(_ inputs: Inputs, sign: ([UInt8]) -> [UInt8]) -> [(name: String, bytes: [UInt8])] {
    var writer = EvidenceWriter(.init(
      origin: inputs.origin, verifierKey: inputs.verifierKey, fromTime: inputs.fromTime, toTime: inputs.toTime,
      firstIndex: inputs.firstIndex, exportedAt: inputs.exportedAt, exportedBy: inputs.exportedBy, kinds: inputs.kinds,
      actors: inputs.actors))
    var entries: [UInt8] = []
    for canonical in inputs.entries { entries += writer.line(for: canonical) }
    return [(EvidenceBundle.entriesFile, entries)] + writer.finish(checkpoint: inputs.checkpoint, proofs: inputs.proofs, sign: sign)
  }
}
