import CustosCrypto
import CustosLedger
import Foundation

/// Writes a backup as a stream of bytes handed to `sink` in chunks: the log entry by entry (with the
/// nodes and checkpoints it implies), then the other parts, then the signed manifest. Holds one chunk
/// and the log's compact range, never the log.
public struct BackupWriter {
  private let sink: ([UInt8]) throws -> Void
  private let header: BackupHeader
  /// The file's next bytes, handed to `sink` about a MiB at a time. Records are written into it in
  /// place (no array per record): a 1M-entry backup spent most of its time allocating and freeing them.
  private var buffer: [UInt8] = []
  private var part: BackupFormat.Part?
  private var partHash = SHA256()
  /// Where the open part's rows not yet hashed start in `buffer`: they are hashed in bulk, a MiB at a time.
  private var unhashedRowsStart: Int?
  private var partRows: UInt64 = 0
  private var digests: [String: BackupManifest.PartDigest] = [:]
  private var range = CompactRange()
  /// Stored checkpoints still to come, in size order; `nextCheckpoint` is the first not yet written.
  private var checkpoints: [SignedCheckpoint] = []
  private var nextCheckpoint = 0
  private var lastCheckpoint: SignedCheckpoint?
  private static let chunkBytes = 1 << 20

  /// `sink` receives the file's bytes in order, about a MiB at a time; the header names the ledger
  /// whose key signs the backup.
  public init(origin: String, verifierKey: String, sink: @escaping ([UInt8]) throws -> Void) throws {
    self.sink = sink
    header = BackupHeader(origin: origin, verifierKey: verifierKey)
    buffer.reserveCapacity(Self.chunkBytes + (64 << 10))
    buffer += BackupFormat.magic
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try record(.header, [UInt8](try encoder.encode(header)))
  }

  /// Starts the log.
  public mutating func beginLedger() throws {
    try begin(.ledger)
  }

  /// Stored signed checkpoints of sizes still to come: each is written right after the entry that
  /// completes its size.
  public mutating func expect(_ more: [SignedCheckpoint]) {
    guard !more.isEmpty else { return }
    checkpoints.removeFirst(nextCheckpoint)
    nextCheckpoint = 0
    checkpoints += more.filter { $0.checkpoint.size > range.size }
    checkpoints.sort { $0.checkpoint.size < $1.checkpoint.size }
  }

  /// The next entry of the log (index order from 0), as stored. With `storedLeafHash`, an entry whose
  /// bytes do not hash to it is refused, and so is a stored checkpoint whose root the entries do not
  /// make: a damaged store gives an error now, not a backup that restore refuses later.
  public mutating func append(entry canonical: UnsafeRawBufferPointer, storedLeafHash: SHA256Digest? = nil) throws {
    let index = range.size
    let leaf = MerkleHashing.leafHash(canonical)
    if let storedLeafHash, storedLeafHash != leaf {
      throw BackupError(part: "ledger", index: index, "the stored entry's bytes do not hash to its stored leaf hash: run custos ledger verify")
    }
    try beginRow(length: 1 + 32 + canonical.count)
    buffer.append(BackupFormat.LedgerRow.entry.rawValue)
    leaf.withUnsafeBytes { buffer.append(contentsOf: $0) }
    buffer.append(contentsOf: canonical)
    // The range moves out while its closed nodes are written into the buffer, so it is not copied.
    var growing = range
    range = CompactRange()
    growing.append(leaf: leaf) { id, hash in
      appendRecordHeader(.row, length: 1 + 1 + 8 + 32)
      partRows += 1
      buffer.append(BackupFormat.LedgerRow.node.rawValue)
      buffer.append(id.level)
      withUnsafeBytes(of: id.index.bigEndian) { buffer.append(contentsOf: $0) }
      hash.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }
    range = growing
    while nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].checkpoint.size <= range.size {
      let checkpoint = checkpoints[nextCheckpoint]
      nextCheckpoint += 1
      guard checkpoint.checkpoint.size == range.size else { continue }
      if storedLeafHash != nil, checkpoint.checkpoint.rootHash != range.rootHash {
        throw BackupError(part: "ledger", index: index, "the stored checkpoint of size \(range.size) is not the root the entries make: run custos ledger verify")
      }
      let note = Array(checkpoint.note.utf8)
      try beginRow(length: 1 + note.count)
      buffer.append(BackupFormat.LedgerRow.checkpoint.rawValue)
      buffer += note
      lastCheckpoint = checkpoint
    }
    if buffer.count >= Self.chunkBytes { try flush() }
  }

  /// The next entry of the log (index order from 0), as stored.
  public mutating func append(entry canonical: [UInt8]) throws {
    try canonical.withUnsafeBytes { try append(entry: $0) }
  }

  /// Writes the other parts, then the manifest signed by `sign` (the ledger key), and flushes. The
  /// last entry written must be the size of a stored checkpoint.
  public mutating func finish(
    contents: BackupContents, createdAt: Int64, cosignatures: [String] = [], sign: ([UInt8]) -> [UInt8]
  ) throws -> BackupManifest {
    guard let checkpoint = lastCheckpoint, checkpoint.checkpoint.size == range.size else {
      throw BackupError(part: "ledger", index: range.size, "the log does not end at a signed checkpoint")
    }
    for part in BackupFormat.Part.allCases where part != .ledger {
      try begin(part)
      for bytes in try contents.rows(part) {
        try beginRow(length: bytes.count)
        buffer += bytes
        if buffer.count >= Self.chunkBytes { try flush() }
      }
    }
    try endPart()
    let manifest = BackupManifest(
      origin: header.origin, verifierKey: header.verifierKey, treeSize: range.size, rootHash: range.rootHash.hex, checkpoint: checkpoint.note,
      createdAt: createdAt, parts: digests, cosignatures: cosignatures)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let bytes = [UInt8](try encoder.encode(manifest))
    try record(.manifest, bytes)
    try record(.signature, sign(BackupFormat.signatureContext + bytes))
    try flush()
    return manifest
  }

  private mutating func begin(_ next: BackupFormat.Part) throws {
    try endPart()
    part = next
    try record(.part, Array(next.rawValue.utf8))
    unhashedRowsStart = buffer.count
  }

  private mutating func endPart() throws {
    guard let part else { return }
    hashPendingRows()
    digests[part.rawValue] = .init(rows: partRows, sha256: partHash.finalize().hex)
    self.part = nil
    unhashedRowsStart = nil
    partHash = SHA256()
    partRows = 0
  }

  /// Starts a row record of the open part; its payload (`length` bytes) is appended by the caller.
  private mutating func beginRow(length: Int) throws {
    try checkLength(length)
    appendRecordHeader(.row, length: length)
    partRows += 1
  }

  /// A record outside the rows (header, part, manifest, signature), not part of any part's digest.
  private mutating func record(_ kind: BackupFormat.RecordKind, _ payload: [UInt8]) throws {
    try checkLength(payload.count)
    appendRecordHeader(kind, length: payload.count)
    buffer += payload
    if buffer.count >= Self.chunkBytes { try flush() }
  }

  /// A record the reader would refuse is not written.
  private func checkLength(_ length: Int) throws {
    guard length <= BackupFormat.maximumRecordBytes else {
      throw BackupError(part: part?.rawValue ?? "file", "a record of \(length) bytes is over the format's limit of \(BackupFormat.maximumRecordBytes)")
    }
  }

  private mutating func appendRecordHeader(_ kind: BackupFormat.RecordKind, length: Int) {
    buffer.append(kind.rawValue)
    withUnsafeBytes(of: UInt32(length).bigEndian) { buffer.append(contentsOf: $0) }
  }

  private mutating func hashPendingRows() {
    guard let start = unhashedRowsStart, start < buffer.count else { return }
    partHash.update(buffer[start...])
    unhashedRowsStart = buffer.count
  }

  private mutating func flush() throws {
    guard !buffer.isEmpty else { return }
    hashPendingRows()
    try sink(buffer)
    buffer.removeAll(keepingCapacity: true)
    if unhashedRowsStart != nil { unhashedRowsStart = 0 }
  }
}
