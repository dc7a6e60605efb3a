import CustosCrypto
import CustosJSON
import CustosLedger

/// Writes a bundle as a stream: entries one at a time (hashed and summarized as they pass, never held),
/// then the small files and the signed manifest. Memory stays flat in the number of entries.
public struct EvidenceWriter {
  public struct Metadata: Sendable {
    public var origin: String
    public var verifierKey: String
    public var fromTime: Int64
    public var toTime: Int64
    public var firstIndex: UInt64
    public var exportedAt: Int64
    public var exportedBy: String
    public var kinds: [String]
    public var actors: [String]

    public init(
      origin: String, verifierKey: String, fromTime: Int64, toTime: Int64, firstIndex: UInt64, exportedAt: Int64, exportedBy: String,
      kinds: [String], actors: [String]
    ) {
      self.origin = origin
      self.verifierKey = verifierKey
      self.fromTime = fromTime
      self.toTime = toTime
      self.firstIndex = firstIndex
      self.exportedAt = exportedAt
      self.exportedBy = exportedBy
      self.kinds = kinds
      self.actors = actors
    }
  }

  let metadata: Metadata
  private var entriesHash = SHA256()
  private var count: UInt64 = 0
  private var summary = EvidenceSummary()
  private let kinds: Set<String>
  private let actors: Set<String>

  public init(_ metadata: Metadata) {
    self.metadata = metadata
    kinds = Set(metadata.kinds)
    actors = Set(metadata.actors)
  }

  /// The next entry's line of `entries.jsonl` (its canonical bytes and a newline), counted in the hash
  /// and the report.
  public mutating func line(for canonical: [UInt8]) -> [UInt8] {
    var line = canonical
    line.append(0x0a)
    entriesHash.update(line)
    count += 1
    summary.add(canonical: canonical, kinds: kinds, actors: actors)
    return line
  }

  /// The files after `entries.jsonl`, ending with `manifest.json` and `manifest.sig` (signed by `sign`
  /// over the context string and the manifest).
  public mutating func finish(checkpoint: SignedCheckpoint, proofs: EvidenceProofs, sign: ([UInt8]) -> [UInt8]) -> [(name: String, bytes: [UInt8])] {
    var manifest = EvidenceManifest(
      origin: metadata.origin, verifierKey: metadata.verifierKey, fromTime: metadata.fromTime, toTime: metadata.toTime,
      firstIndex: metadata.firstIndex, lastIndex: metadata.firstIndex + count - 1, treeSize: checkpoint.checkpoint.size,
      exportedAt: metadata.exportedAt, exportedBy: metadata.exportedBy, kinds: metadata.kinds, actors: metadata.actors, files: [:])
    let files: [(name: String, bytes: [UInt8])] = [
      (EvidenceBundle.checkpointFile, Array(checkpoint.note.utf8)),
      (EvidenceBundle.proofsFile, proofs.encoded()),
      (EvidenceBundle.summaryJSONFile, summary.json()),
      (EvidenceBundle.summaryCSVFile, summary.csv()),
      (EvidenceBundle.reportFile, EvidenceReport.html(summary, manifest: manifest, checkpointRoot: checkpoint.checkpoint.rootHash.hex)),
    ]
    var hashes = Dictionary(uniqueKeysWithValues: files.map { ($0.name, SHA256.hash($0.bytes).hex) })
    hashes[EvidenceBundle.entriesFile] = entriesHash.finalize().hex
    manifest.files = hashes
    let manifestBytes = manifest.encoded()
    let signature = Array((Base64.encode(sign(EvidenceBundle.signatureContext + manifestBytes)) + "\n").utf8)
    return files + [(EvidenceBundle.manifestFile, manifestBytes), (EvidenceBundle.signatureFile, signature)]
  }
}
