import CustosCrypto
import CustosEvidence
import CustosLedger

extension FuzzTargets {
  /// A whole evidence bundle through the offline verifier. The input is the bundle's files joined by
  /// NUL bytes (`evidenceFiles`); the harness signs the manifest and the checkpoint with the fixed key,
  /// so mutations reach the entries, proofs and hashes behind the signatures. Inputs up to twice the
  /// seed bundle (8.5 KiB, 14 entries): a longer bundle repeats entries and proof lines.
  static let evidence = FuzzTarget(name: "evidence", summary: "evidence bundle verifier (manifest, entries, checkpoint, proofs)",
    maximumInputBytes: 16 * 1024, checksLeaksAfterEachInput: false,
    prepare: { FuzzKeys.load(); _ = evidenceVerifier }
  ) { bytes in
    _ = try? evidenceVerifier.verify(evidenceFiles(bytes))
  }

  /// The files in the order `evidenceParts` names, NUL-separated; a missing part is an absent file.
  public static func evidenceFiles(_ bytes: [UInt8]) -> [String: [UInt8]] {
    let parts = bytes.split(separator: 0, maxSplits: evidenceParts.count - 1, omittingEmptySubsequences: false)
    var files: [String: [UInt8]] = [:]
    for (name, part) in zip(evidenceParts, parts) { files[name] = Array(part) }
    if let manifest = files[EvidenceBundle.manifestFile] {
      files[EvidenceBundle.signatureFile] = Array(Base64.encode(FuzzKeys.noteSigner.signature(for: EvidenceBundle.signatureContext + manifest)).utf8)
    }
    if let body = files[EvidenceBundle.checkpointFile] {
      files[EvidenceBundle.checkpointFile] = Array(FuzzKeys.noteSigner.sign(String(noteText: String(fuzzInput: body))).utf8)
    }
    return files
  }

  /// The inverse of `evidenceFiles` for a bundle signed with `evidenceSigner` (seeds the corpus).
  public static func evidenceInput(_ files: [String: [UInt8]]) -> [UInt8] {
    var parts: [[UInt8]] = []
    for name in evidenceParts {
      var part = files[name] ?? []
      if name == EvidenceBundle.checkpointFile, let note = String(validating: part, as: UTF8.self), let end = note.range(of: "\n\n") {
        part = Array(note[..<end.lowerBound].utf8) + [0x0A]
      }
      parts.append(part)
    }
    return Array(parts.joined(separator: [0]))
  }

  /// What signs seed bundles: the fixed key the harness re-signs with.
  public static var evidenceSigner: NoteSigner { FuzzKeys.noteSigner }

  static let evidenceParts = [
    EvidenceBundle.manifestFile, EvidenceBundle.checkpointFile, EvidenceBundle.proofsFile, EvidenceBundle.summaryJSONFile,
    EvidenceBundle.summaryCSVFile, EvidenceBundle.reportFile, EvidenceBundle.entriesFile,
  ]
  static let evidenceVerifier = try! EvidenceVerifier(verifierKey: FuzzKeys.noteSigner.verifier.verifierKey)
}
