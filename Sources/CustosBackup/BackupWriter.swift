import CustosCrypto
import CustosLedger
import Foundation

/// Writes a backup as a stream of bytes handed to `sink` in chunks: the log entry by entry (with the
/// nodes and checkpoints it implies), then the other parts, then the signed manifest. Holds one chunk
/// and the log's compact range, never the log.
public struct BackupWriter {
  private let sink: ([UInt8]) throws -> Void
  private let header: BackupHeader
  private var buffer: [UInt8] = []
  private var part: BackupFormat.Part?
  private var partHash = SHA256()
  private var partRows: UInt64 = 0
  private var digests: [String: BackupManifest.PartDigest] = [:]
  private var range = CompactRange()
  private var lastLeaf = SHA256Digest.zero
  private var checkpoints: [UInt64: SignedCheckpoint] = [:]
  private var lastCheckpoint: SignedCheckpoint?
  private static let chunkBytes = 1 << 20

  /// `sink` receives the file's bytes in order, about a MiB at a time; the header names the ledger
  /// whose key signs the backup.
  public init(origin: String, verifierKey: String, sink: @escaping ([UInt8]) throws -> Void) throws {
    self.sink = sink
    header = BackupHeader(origin: origin, verifierKey: verifierKey)
    buffer = BackupFormat.magic
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
  public mutating func expect(_ checkpoints: [SignedCheckpoint]) {
    for checkpoint in checkpoints { self.checkpoints[checkpoint.checkpoint.size] = checkpoint }
  }

  /// The next entry of the log (index order from 0), as stored.
  public mutating func append(entry canonical: [UInt8]) throws {
    let leaf = MerkleHashing.leafHash(canonical)
    try row([BackupFormat.LedgerRow.entry.rawValue] + leaf.bytes + canonical)
    var closed: [(NodeID, SHA256Digest)] = []
    range.append(leaf: leaf) { closed.append(($0, $1)) }
    for (id, hash) in closed {
      var node: [UInt8] = [BackupFormat.LedgerRow.node.rawValue, id.level]
      withUnsafeBytes(of: id.index.bigEndian) { node += $0 }
      node += hash.bytes
      try row(node)
    }
    lastLeaf = leaf
    if let checkpoint = checkpoints.removeValue(forKey: range.size) {
      try row([BackupFormat.LedgerRow.checkpoint.rawValue] + Array(checkpoint.note.utf8))
      lastCheckpoint = checkpoint
    }
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
      for bytes in try contents.rows(part) { try row(bytes) }
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
  }

  private mutating func endPart() throws {
    guard let part else { return }
    digests[part.rawValue] = .init(rows: partRows, sha256: partHash.finalize().hex)
    self.part = nil
    partHash = SHA256()
    partRows = 0
  }

  private mutating func row(_ payload: [UInt8]) throws {
    partHash.update(BackupFormat.recordHeader(.row, length: payload.count))
    partHash.update(payload)
    partRows += 1
    try record(.row, payload)
  }

  private mutating func record(_ kind: BackupFormat.RecordKind, _ payload: [UInt8]) throws {
    buffer += BackupFormat.recordHeader(kind, length: payload.count)
    buffer += payload
    if buffer.count >= Self.chunkBytes { try flush() }
  }

  private mutating func flush() throws {
    guard !buffer.isEmpty else { return }
    try sink(buffer)
    buffer.removeAll(keepingCapacity: true)
  }
}
