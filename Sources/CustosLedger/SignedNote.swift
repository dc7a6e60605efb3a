import CustosCrypto

/// C2SP signed-note signing and verification with Ed25519 keys (https://c2sp.org/signed-note).
///
/// A note is UTF-8 text ending in a newline, then a blank line, then signature lines
/// `— <key name> <base64(key hash || signature)>`. The key hash is the first four bytes of
/// SHA-256(key name || "\n" || 0x01 || public key).
public struct NoteSigner: Sendable {
  /// The key name: the ledger's origin.
  public let name: String
  private let privateKey: Ed25519.PrivateKey

  public init(name: String, privateKey: Ed25519.PrivateKey) {
    self.name = name
    self.privateKey = privateKey
  }

  public var verifier: NoteVerifier { NoteVerifier(name: name, publicKey: privateKey.publicKey) }

  /// A plain Ed25519 signature over `message` with the note key (for manifests signed by the ledger key).
  public func signature(for message: [UInt8]) -> [UInt8] {
    privateKey.signature(for: message)
  }

  /// A key derived from the note key for another purpose (HKDF-SHA256 over the seed, `info` naming the
  /// purpose): every holder of the ledger key derives the same one.
  public func derivedKey(info: String) -> SecretBytes {
    // HKDF only fails for an output length outside 1...8160.
    try! HKDF.deriveKey(inputKeyMaterial: privateKey.rawRepresentation, salt: [UInt8](), info: Array(info.utf8), outputLength: 32)
  }

  /// `text` (which must end in "\n") followed by its signature block.
  public func sign(_ text: String) -> String {
    // Bytes, not characters: a text ending in "\r\n" ends in a newline byte too (one Character, not "\n").
    precondition(text.utf8.last == 0x0A, "a signed note's text ends in a newline")
    let signature = privateKey.signature(for: Array(text.utf8))
    return text + "\n" + "\u{2014} \(name) " + Base64.encode(verifier.keyHash + signature) + "\n"
  }
}

/// Checks signed notes against one Ed25519 key.
public struct NoteVerifier: Sendable, Equatable {
  public let name: String
  public let publicKey: Ed25519.PublicKey

  public init(name: String, publicKey: Ed25519.PublicKey) {
    self.name = name
    self.publicKey = publicKey
  }

  /// Parses a verifier key string `name+hex(key hash)+base64(0x01 || public key)`.
  public init(verifierKey: String) throws(LedgerError) {
    let parts = verifierKey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, parts[1].utf8.count == 8, let hash = Hex.decode(parts[1]),
      let keyBytes = Base64.decode(parts[2]), keyBytes.count == 33, keyBytes[0] == 0x01
    else { throw .invalidArgument("verifier key must be name+keyhash+base64(0x01||ed25519 key)") }
    let key: Ed25519.PublicKey
    do { key = try Ed25519.PublicKey(rawRepresentation: Array(keyBytes[1...])) } catch {
      throw .invalidArgument("verifier key does not hold an Ed25519 public key")
    }
    self.init(name: String(parts[0]), publicKey: key)
    guard self.keyHash == hash else { throw .invalidArgument("verifier key hash does not match its name and key") }
  }

  /// The four-byte key hash that prefixes each signature.
  public var keyHash: [UInt8] {
    var hasher = SHA256()
    hasher.update(Array(name.utf8))
    hasher.update(byte: 0x0A)
    hasher.update(byte: 0x01)
    hasher.update(publicKey.rawRepresentation)
    return Array(hasher.finalize().bytes.prefix(4))
  }

  /// The verifier key string, for operators and auditors.
  public var verifierKey: String {
    "\(name)+\(Hex.encode(keyHash))+\(Base64.encode([0x01] + publicKey.rawRepresentation))"
  }

  /// The note's text when one of its signatures is a valid signature by this key; throws otherwise.
  public func open(_ note: String) throws(LedgerError) -> String {
    let bytes = Array(note.utf8)
    guard bytes.last == 0x0A else { throw .invalidArgument("signed note does not end in a newline") }
    guard let split = (1..<bytes.count).last(where: { bytes[$0] == 0x0A && bytes[$0 - 1] == 0x0A }) else {
      throw .invalidArgument("signed note has no signature block")
    }
    let text = String(decoding: bytes[..<split], as: UTF8.self)
    let signatures = String(decoding: bytes[(split + 1)...], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    for line in signatures.dropLast() {
      let prefix = "\u{2014} \(name) "
      guard line.hasPrefix(prefix), let blob = Base64.decode(line.dropFirst(prefix.count)), blob.count == 68,
        Array(blob.prefix(4)) == keyHash
      else { continue }
      if publicKey.isValidSignature(Array(blob.dropFirst(4)), for: Array(text.utf8)) { return text }
      throw .invalidArgument("signed note signature by \(name) does not verify")
    }
    throw .invalidArgument("signed note carries no signature by \(name)")
  }
}
