import CustosCrypto
import CustosLedger

/// Step 3 of bundle verification: `entries.jsonl`, read once, in order (`forEachChunk`). Each chunk's
/// lines are scanned, leaf-hashed and linked in runs on every core, while two more jobs share the cores
/// with them — the file's running SHA-256 and the read of the next chunk —; the runs are then joined in order, and a run
/// that does not join is walked again one line at a time to report exactly what fails, and where.
struct EvidenceEntriesCheck {
  let manifest: EvidenceManifest
  /// The index the next line must carry.
  private(set) var expected: UInt64
  /// The leaf hash of the last line checked: the next line's `prev`.
  private(set) var previous: SHA256Digest?
  private(set) var firstLeaf: SHA256Digest?
  private var fileHash = SHA256()
  /// The start of a line that continues in the next chunk.
  private var carry: [UInt8] = []

  /// Longer than any entry a ledger accepts (events are at most 4 MiB): a longer line is not an entry,
  /// and holding it would let a bundle grow the verifier's memory without bound.
  static let maximumLineBytes = 8 << 20

  init(manifest: EvidenceManifest) {
    self.manifest = manifest
    expected = manifest.firstIndex
  }

  private var count: UInt64 { manifest.lastIndex - manifest.firstIndex + 1 }

  private func fail(_ index: UInt64, _ why: String) -> EvidenceFailure {
    EvidenceFailure(file: EvidenceBundle.entriesFile, index: index, reason: why)
  }

  /// Checks the whole file from `reader`, `chunkBytes` at a time; returns its SHA-256.
  mutating func run(
    _ reader: any EvidenceFileReader, chunkBytes: Int, progress: (UInt64, UInt64) -> Void
  ) throws(EvidenceFailure) -> SHA256Digest {
    do {
      try reader.forEachChunk(chunkBytes: chunkBytes) { chunk, readNext in
        try check(chunk, readingNext: readNext)
        progress(expected - manifest.firstIndex, count)
      }
    } catch let failure as EvidenceFailure {
      throw failure
    } catch {
      throw EvidenceFailure(file: EvidenceBundle.entriesFile, index: nil, reason: "cannot be read: \(error)")
    }
    guard carry.isEmpty else { throw fail(expected, "the last line has no newline") }
    guard expected == manifest.lastIndex + 1 else {
      throw fail(expected, "entries end early: \(expected - manifest.firstIndex) of \(count)")
    }
    progress(count, count)
    return fileHash.finalize()
  }

  /// Checks one chunk; `readingNext` (when there is more to read) runs beside the work.
  private mutating func check(_ chunk: UnsafeRawBufferPointer, readingNext: (() -> Void)?) throws(EvidenceFailure) {
    var rest = chunk
    if !carry.isEmpty, let newline = CanonicalEntryScanner.nextNewline(in: chunk, from: 0) {
      // The line that began in an earlier chunk.
      carry += chunk[..<newline]
      try link(carry.withUnsafeBytes { ScannedEntry(scanning: $0) })
      carry.removeAll(keepingCapacity: true)
      rest = UnsafeRawBufferPointer(rebasing: chunk[(newline + 1)...])
    }
    var hash = fileHash
    let (runs, consumed) = CanonicalEntryScanner.linkLines(
      in: rest, slices: EvidenceVerifier.slices, accept: Self.timeCheck(manifest), sideJobs: readingNext == nil ? 1 : 2
    ) { job in
      if job == 0 { hash.update(chunk) } else { readingNext?() }
    }
    fileHash = hash
    carry += rest[consumed...]
    guard carry.count <= Self.maximumLineBytes else {
      throw fail(expected, "a line longer than \(Self.maximumLineBytes >> 20) MiB: not a ledger entry")
    }
    for run in runs where !run.span.isEmpty {
      if run.continues(next: expected, previous: previous), expected <= manifest.lastIndex,
        manifest.lastIndex - expected >= UInt64(run.count - 1)
      {
        if firstLeaf == nil { firstLeaf = run.firstLeaf }
        previous = run.lastLeaf
        expected += UInt64(run.count)
        continue
      }
      // Something in this run fails: walk it one line at a time to report exactly what and where.
      var start = run.span.lowerBound
      while start < run.span.upperBound {
        let newline = CanonicalEntryScanner.nextNewline(in: rest, from: start)!
        try link(ScannedEntry(scanning: UnsafeRawBufferPointer(rebasing: rest[start..<newline])))
        start = newline + 1
      }
    }
  }

  private static func timeCheck(_ manifest: EvidenceManifest) -> @Sendable (CanonicalEntryScanner.Fields) -> Bool {
    let (from, to) = (manifest.fromTime, manifest.toTime)
    return { $0.time >= from && $0.time < to }
  }

  /// Checks one line against the chain so far, with the precise reason when it does not fit.
  private mutating func link(_ scanned: ScannedEntry) throws(EvidenceFailure) {
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
  }
}
