import CustosCrypto
import CustosJSON
import CustosLedger
import Foundation

/// Checks an evidence bundle with nothing but the ledger's verifier key: no daemon, no database.
///
/// The algorithm (also in the README, for auditors who reimplement it):
/// 1. `manifest.sig` is an Ed25519 signature, by the verifier key, over the context string
///    `custos-evidence-manifest/v1\n` followed by the bytes of `manifest.json`; the manifest names the
///    same verifier key.
/// 2. Every file the manifest lists exists (and, checked last, has the SHA-256 it records).
/// 3. `entries.jsonl` holds one entry per line for indexes `first_index...last_index`, in order: each
///    line is a ledger entry in RFC 8785 canonical form, its `index` is the expected one, its `time` lies
///    in the range, its leaf hash is SHA-256(0x00 || line), and each `prev` is the previous line's leaf
///    hash.
/// 4. `checkpoint.txt` is a signed note by the verifier key for the manifest's origin and `tree_size`.
/// 5. The inclusion proofs in `proofs.json` lead from the first and last leaf hash to its root hash
///    (RFC 9162 §2.1.3.2): with the `prev` chain, every entry in between is in that tree.
/// 6. When `proofs.json` carries a start checkpoint (the newest signed checkpoint at or before the range;
///    there is one whenever the range does not start inside the log's first write batch), it verifies,
///    is at or before `first_index`, and the consistency proof shows the checkpoint's tree extends it.
public struct EvidenceVerifier: Sendable {
  public let verifier: NoteVerifier

  /// Witnesses whose cosignatures on `checkpoint.txt` count, and how many must be there.
  public let witnesses: [CosignerKey]
  public let quorum: Int

  public init(verifierKey: String, witnesses: [CosignerKey] = [], quorum: Int = 0) throws(EvidenceFailure) {
    do { verifier = try NoteVerifier(verifierKey: verifierKey) } catch {
      throw EvidenceFailure(file: "--verifier-key", index: nil, reason: "not a verifier key (name+hash+base64): \(error)")
    }
    self.witnesses = witnesses
    self.quorum = quorum
  }

  /// What a passing bundle proves.
  public struct Verified: Sendable {
    public let manifest: EvidenceManifest
    public let entries: UInt64
  }

  /// Verifies a bundle held in memory, in small chunks (so lines that span chunks are met in tests too).
  public func verify(_ files: [String: [UInt8]], progress: (UInt64, UInt64) -> Void = { _, _ in }) throws(EvidenceFailure) -> Verified {
    try verify(InMemoryEvidence(files), chunkBytes: 65_536, progress: progress)
  }

  /// Verifies the bundle's files, reading `entries.jsonl` `chunkBytes` at a time (memory stays flat in
  /// its size); `progress` sees entries checked so far and the total.
  public func verify(
    _ source: some EvidenceSource, chunkBytes: Int = EvidenceDirectory.chunkBytes, progress: (UInt64, UInt64) -> Void = { _, _ in }
  ) throws(EvidenceFailure) -> Verified {
    func read(_ name: String) throws(EvidenceFailure) -> [UInt8]? {
      do { return try source.contents(of: name) } catch { throw EvidenceFailure(file: name, index: nil, reason: "cannot be read: \(error)") }
    }
    var small: [String: [UInt8]] = [:]
    // 1. The manifest and its signature.
    guard let manifestBytes = try read(EvidenceBundle.manifestFile) else { throw missing(EvidenceBundle.manifestFile) }
    guard let signatureText = try read(EvidenceBundle.signatureFile) else { throw missing(EvidenceBundle.signatureFile) }
    let signature = Base64.decode(String(decoding: signatureText, as: UTF8.self).trimmingWhitespace()) ?? []
    guard verifier.publicKey.isValidSignature(signature, for: EvidenceBundle.signatureContext + manifestBytes) else {
      throw EvidenceFailure(file: EvidenceBundle.signatureFile, index: nil, reason: "the manifest signature does not verify with this verifier key")
    }
    let manifest = try EvidenceManifest(decoding: manifestBytes)
    guard manifest.verifierKey == verifier.verifierKey else {
      throw EvidenceFailure(file: EvidenceBundle.manifestFile, index: nil, reason: "names another verifier key (\(manifest.verifierKey.prefix(60)))")
    }
    // 2. Every listed file is there (their hashes are checked last, once the entries have been checked
    //    one by one, so an altered entry is reported with its index rather than only as a changed file).
    for name in EvidenceBundle.listedFiles where manifest.files[name] == nil {
      throw EvidenceFailure(file: EvidenceBundle.manifestFile, index: nil, reason: "does not list \(name)")
    }
    for name in manifest.files.keys.sorted() where name != EvidenceBundle.entriesFile {
      guard let bytes = try read(name) else { throw missing(name) }
      small[name] = bytes
    }
    // 3. The entries: canonical, in order, in range, chained.
    let reader: any EvidenceFileReader
    do {
      guard let opened = try source.reader(for: EvidenceBundle.entriesFile) else { throw missing(EvidenceBundle.entriesFile) }
      reader = opened
    } catch let failure as EvidenceFailure {
      throw failure
    } catch {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: nil, reason: "cannot be read: \(error)")
    }
    var entries = EvidenceEntriesCheck(manifest: manifest)
    let entriesDigest = try entries.run(reader, chunkBytes: chunkBytes, progress: progress).hex
    guard let firstLeaf = entries.firstLeaf, let lastLeaf = entries.previous else {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: manifest.firstIndex, reason: "holds no entries")
    }
    // 4. The checkpoint.
    let checkpoint: SignedCheckpoint
    do {
      checkpoint = try SignedCheckpoint(note: String(decoding: small[EvidenceBundle.checkpointFile]!, as: UTF8.self), verifier: verifier)
    } catch {
      throw EvidenceFailure(file: EvidenceBundle.checkpointFile, index: nil, reason: "does not verify with the verifier key: \(error)")
    }
    guard checkpoint.checkpoint.origin == manifest.origin, checkpoint.checkpoint.size == manifest.treeSize else {
      throw EvidenceFailure(file: EvidenceBundle.checkpointFile, index: nil, reason: "is for another log or size than the manifest")
    }
    if !witnesses.isEmpty {
      let lines = checkpoint.note.split(separator: "\n")
      let cosigned = witnesses.filter { Cosignature.verified(lines: lines, body: checkpoint.checkpoint.body, cosigner: $0) != nil }.count
      guard cosigned >= quorum else {
        throw EvidenceFailure(
          file: EvidenceBundle.checkpointFile, index: nil,
          reason: "\(cosigned) of the given witnesses cosigned it, fewer than the quorum of \(quorum)")
      }
    }
    // 5. Inclusion of the first and last entries.
    let proofs = try EvidenceProofs(decoding: small[EvidenceBundle.proofsFile]!)
    guard proofs.treeSize == manifest.treeSize, proofs.firstIndex == manifest.firstIndex, proofs.lastIndex == manifest.lastIndex else {
      throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: nil, reason: "is for another range or tree size than the manifest")
    }
    for (index, leaf, path) in [(proofs.firstIndex, firstLeaf, proofs.firstInclusion), (proofs.lastIndex, lastLeaf, proofs.lastInclusion)] {
      let root = try? ProofVerification.rootFromInclusionProof(index: index, size: proofs.treeSize, leafHash: leaf, proof: path)
      guard root == checkpoint.checkpoint.rootHash else {
        // With proofs.json as the signed manifest records it, the entry is what changed.
        if SHA256.hash(small[EvidenceBundle.proofsFile]!).hex == manifest.files[EvidenceBundle.proofsFile] {
          throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: index, reason: "this is not the entry the signed checkpoint holds at this index (its inclusion proof fails)")
        }
        throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: index, reason: "the inclusion proof does not lead to the checkpoint's root")
      }
    }
    // 6. Consistency from the checkpoint at the start of the range.
    if let note = proofs.startCheckpoint {
      let start: SignedCheckpoint
      do { start = try SignedCheckpoint(note: note, verifier: verifier) } catch {
        throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: nil, reason: "the start checkpoint does not verify: \(error)")
      }
      guard start.checkpoint.origin == manifest.origin, start.checkpoint.size <= manifest.firstIndex else {
        throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: nil, reason: "the start checkpoint is not at or before the range")
      }
      do {
        try ProofVerification.verifyConsistency(
          oldSize: start.checkpoint.size, newSize: checkpoint.checkpoint.size, proof: proofs.consistency,
          oldRoot: start.checkpoint.rootHash, newRoot: checkpoint.checkpoint.rootHash)
      } catch {
        throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: nil, reason: "the consistency proof does not verify: \(error)")
      }
    }
    // 7. Every listed file has the SHA-256 the signed manifest records.
    small[EvidenceBundle.entriesFile] = nil
    if entriesDigest != manifest.files[EvidenceBundle.entriesFile] {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: nil, reason: "SHA-256 does not match the manifest (the file was changed)")
    }
    for name in small.keys.sorted() where SHA256.hash(small[name]!).hex != manifest.files[name] {
      throw EvidenceFailure(file: name, index: nil, reason: "SHA-256 does not match the manifest (the file was changed)")
    }
    return Verified(manifest: manifest, entries: manifest.lastIndex - manifest.firstIndex + 1)
  }

  private func missing(_ name: String) -> EvidenceFailure { EvidenceFailure(file: name, index: nil, reason: "missing") }

  /// Parts each chunk's entries are split into: several per core, so the cores stay evenly busy while
  /// one of them also runs the file hash.
  static let slices = 16 * max(1, ProcessInfo.processInfo.activeProcessorCount)
}

extension String {
  func trimmingWhitespace() -> String {
    let scalars = unicodeScalars
    guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[start...end])
  }
}
