import CustosCrypto

/// A C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): origin, tree size and root hash.
public struct Checkpoint: Sendable, Equatable {
  public var origin: String
  public var size: UInt64
  public var rootHash: SHA256Digest

  public init(origin: String, size: UInt64, rootHash: SHA256Digest) {
    self.origin = origin
    self.size = size
    self.rootHash = rootHash
  }

  /// The checkpoint body: three lines, each ending in a newline.
  public var body: String { "\(origin)\n\(size)\n\(Base64.encode(rootHash.bytes))\n" }

  /// Parses a checkpoint body (extension lines after the third are ignored).
  public init(body: String) throws(LedgerError) {
    let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.count >= 4, lines.last == "", !lines[0].isEmpty,
      let size = UInt64(lines[1]), String(size) == lines[1],
      let rootBytes = Base64.decode(lines[2]), let root = SHA256Digest(bytes: rootBytes)
    else { throw .invalidArgument("not a tlog checkpoint: expected origin, decimal size and base64 root hash lines") }
    self.init(origin: String(lines[0]), size: size, rootHash: root)
  }
}

/// A checkpoint with its signed-note text, as stored and served.
public struct SignedCheckpoint: Sendable, Equatable {
  public var checkpoint: Checkpoint
  /// The full signed note.
  public var note: String

  public init(checkpoint: Checkpoint, note: String) {
    self.checkpoint = checkpoint
    self.note = note
  }

  /// Verifies the note's signature and parses it.
  public init(note: String, verifier: NoteVerifier) throws(LedgerError) {
    let body = try verifier.open(note)
    self.init(checkpoint: try Checkpoint(body: body), note: note)
    guard checkpoint.origin == verifier.name else {
      throw .invalidArgument("checkpoint origin \"\(checkpoint.origin)\" is not the verifier's \"\(verifier.name)\"")
    }
  }
}
