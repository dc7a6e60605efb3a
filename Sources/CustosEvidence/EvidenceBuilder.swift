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

  /// Every file of the bundle, `manifest.sig` signed by `sign` over the context and the manifest.
  public static func build(_ inputs: Inputs, sign: ([UInt8]) -> [UInt8]) -> [(name: String, bytes: [UInt8])] {
    var entries: [UInt8] = []
    var summary = EvidenceSummary()
    let kinds = Set(inputs.kinds)
    let actors = Set(inputs.actors)
    for line in inputs.entries {
      entries += line
      entries.append(0x0a)
      if let object = (try? JSONParser.parse(line))?.objectValue { summary.add(object, kinds: kinds, actors: actors) }
    }
    var manifest = EvidenceManifest(
      origin: inputs.origin, verifierKey: inputs.verifierKey, fromTime: inputs.fromTime, toTime: inputs.toTime,
      firstIndex: inputs.firstIndex, lastIndex: inputs.firstIndex + UInt64(inputs.entries.count) - 1,
      treeSize: inputs.checkpoint.checkpoint.size, exportedAt: inputs.exportedAt, exportedBy: inputs.exportedBy,
      kinds: inputs.kinds, actors: inputs.actors, files: [:])
    let files: [(String, [UInt8])] = [
      (EvidenceBundle.entriesFile, entries),
      (EvidenceBundle.checkpointFile, Array(inputs.checkpoint.note.utf8)),
      (EvidenceBundle.proofsFile, inputs.proofs.encoded()),
      (EvidenceBundle.summaryJSONFile, summary.json()),
      (EvidenceBundle.summaryCSVFile, summary.csv()),
      (EvidenceBundle.reportFile, EvidenceReport.html(summary, manifest: manifest, checkpointRoot: inputs.checkpoint.checkpoint.rootHash.hex)),
    ]
    manifest.files = Dictionary(uniqueKeysWithValues: files.map { ($0.0, SHA256.hash($0.1).hex) })
    let manifestBytes = manifest.encoded()
    let signature = Array((Base64.encode(sign(EvidenceBundle.signatureContext + manifestBytes)) + "\n").utf8)
    return files.map { (name: $0.0, bytes: $0.1) } + [(EvidenceBundle.manifestFile, manifestBytes), (EvidenceBundle.signatureFile, signature)]
  }
}
