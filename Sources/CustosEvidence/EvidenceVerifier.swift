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
/// Where a bundle's files are read from: whole for the small ones, in chunks for `entries.jsonl`.
public protocol EvidenceSource {
  /// The whole file, or nil if it is missing.
  func contents(of name: String) throws -> [UInt8]?
  /// Calls `body` with the file's bytes in order, in chunks (valid only during the call); false if the
  /// file is missing.
  func stream(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool
}

/// A bundle held in memory (tests, or one just received).
public struct InMemoryEvidence: EvidenceSource {
  public var files: [String: [UInt8]]

  public init(_ files: [String: [UInt8]]) { self.files = files }

  public func contents(of name: String) throws -> [UInt8]? { files[name] }

  public func stream(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
    guard let bytes = files[name] else { return false }
    // Small chunks, so that lines spanning chunks are exercised.
    try bytes.withUnsafeBytes { all in
      var offset = 0
      while offset < all.count {
        try body(UnsafeRawBufferPointer(rebasing: all[offset..<min(all.count, offset + 65_536)]))
        offset += 65_536
      }
    }
    return true
  }
}

public struct EvidenceVerifier: Sendable {
  public let verifier: NoteVerifier

  public init(verifierKey: String) throws(EvidenceFailure) {
    do { verifier = try NoteVerifier(verifierKey: verifierKey) } catch {
      throw EvidenceFailure(file: "--verifier-key", index: nil, reason: "not a verifier key (name+hash+base64): \(error)")
    }
  }

  /// What a passing bundle proves.
  public struct Verified: Sendable {
    public let manifest: EvidenceManifest
    public let entries: UInt64
  }

  /// Verifies a bundle held in memory.
  public func verify(_ files: [String: [UInt8]], progress: (UInt64, UInt64) -> Void = { _, _ in }) throws(EvidenceFailure) -> Verified {
    try verify(InMemoryEvidence(files), progress: progress)
  }

  /// Verifies the bundle's files, streaming `entries.jsonl` (memory stays flat in its size); `progress`
  /// sees entries checked so far and the total.
  public func verify(_ source: some EvidenceSource, progress: (UInt64, UInt64) -> Void = { _, _ in }) throws(EvidenceFailure) -> Verified {
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
    // 3. The entries: canonical, in order, in range, chained. Each chunk's lines are scanned and
    //    leaf-hashed on every core while the file hash runs beside them; the links are then checked in
    //    order.
    let count = manifest.lastIndex - manifest.firstIndex + 1
    var expected = manifest.firstIndex
    var previous: SHA256Digest?
    var firstLeaf: SHA256Digest?
    var entriesHash = SHA256()
    var carry: [UInt8] = []
    var streamFailure: EvidenceFailure?
    func fail(_ index: UInt64, _ why: String) -> EvidenceFailure { EvidenceFailure(file: EvidenceBundle.entriesFile, index: index, reason: why) }
    func link(_ scanned: ScannedEntry) throws(EvidenceFailure) {
      guard expected <= manifest.lastIndex else { throw fail(expected, "more entries than the range \(manifest.firstIndex)...\(manifest.lastIndex)") }
      guard let fields = scanned.fields else { throw fail(expected, scanned.failure) }
      guard fields.index == expected else {
        throw fail(expected, "index is \(fields.index), expected \(expected) (a line is missing, moved or from elsewhere)")
      }
      guard fields.time >= manifest.fromTime, fields.time < manifest.toTime else { throw fail(expected, "time is outside the exported range") }
      if let previous, fields.prev != previous {
        throw fail(expected, "prev does not match the leaf hash of index \(expected - 1): one of the two entries was altered")
      }
      if firstLeaf == nil { firstLeaf = scanned.leaf }
      previous = scanned.leaf
      expected += 1
      if expected % 4096 == 0 { progress(expected - manifest.firstIndex, count) }
    }
    func checkChunk(_ chunk: UnsafeRawBufferPointer) throws(EvidenceFailure) {
      var rest = chunk
      if !carry.isEmpty {
        // The line that began in an earlier chunk.
        guard let newline = CanonicalEntryScanner.nextNewline(in: chunk, from: 0) else {
          entriesHash.update(chunk)
          carry += chunk
          return
        }
        carry += chunk[..<newline]
        let scanned = carry.withUnsafeBytes { ScannedEntry(scanning: $0) }
        try link(scanned)
        carry.removeAll(keepingCapacity: true)
        rest = UnsafeRawBufferPointer(rebasing: chunk[(newline + 1)...])
      }
      let (scans, consumed) = CanonicalEntryScanner.scanAndHashLines(in: rest, slices: EvidenceVerifier.slices) {
        entriesHash.update(chunk)
      }
      carry += rest[consumed...]
      for part in scans {
        for scanned in part { try link(scanned) }
      }
    }
    let present: Bool
    do {
      present = try source.stream(EvidenceBundle.entriesFile) { chunk in
        guard streamFailure == nil else { return }
        do throws(EvidenceFailure) { try checkChunk(chunk) } catch { streamFailure = error }
      }
    } catch {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: nil, reason: "cannot be read: \(error)")
    }
    guard present else { throw missing(EvidenceBundle.entriesFile) }
    if let streamFailure { throw streamFailure }
    guard carry.isEmpty else { throw fail(expected, "the last line has no newline") }
    guard expected == manifest.lastIndex + 1 else {
      throw fail(expected, "entries end early: \(expected - manifest.firstIndex) of \(count)")
    }
    progress(count, count)
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
    // 5. Inclusion of the first and last entries.
    let proofs = try EvidenceProofs(decoding: small[EvidenceBundle.proofsFile]!)
    guard proofs.treeSize == manifest.treeSize, proofs.firstIndex == manifest.firstIndex, proofs.lastIndex == manifest.lastIndex else {
      throw EvidenceFailure(file: EvidenceBundle.proofsFile, index: nil, reason: "is for another range or tree size than the manifest")
    }
    for (index, leaf, path) in [(proofs.firstIndex, firstLeaf!, proofs.firstInclusion), (proofs.lastIndex, previous!, proofs.lastInclusion)] {
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
    let entriesDigest = entriesHash.finalize().hex
    if entriesDigest != manifest.files[EvidenceBundle.entriesFile] {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: nil, reason: "SHA-256 does not match the manifest (the file was changed)")
    }
    for name in small.keys.sorted() where SHA256.hash(small[name]!).hex != manifest.files[name] {
      throw EvidenceFailure(file: name, index: nil, reason: "SHA-256 does not match the manifest (the file was changed)")
    }
    return Verified(manifest: manifest, entries: count)
  }

  private func missing(_ name: String) -> EvidenceFailure { EvidenceFailure(file: name, index: nil, reason: "missing") }

  /// Parts each chunk's entries are split into: several per core, so the cores stay evenly busy while
  /// one of them also runs the file hash.
  static let slices = 4 * max(1, ProcessInfo.processInfo.activeProcessorCount)
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
