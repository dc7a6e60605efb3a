import CustosCrypto

/// A witness's Ed25519 cosigning key as clients know it (C2SP tlog-cosignature): a name and a public key,
/// written as the vkey `<name>+<hex key ID>+<base64(0x04 || public key)>`.
public struct CosignerKey: Sendable, Equatable {
  public let name: String
  public let publicKey: Ed25519.PublicKey

  public init(name: String, publicKey: Ed25519.PublicKey) {
    self.name = name
    self.publicKey = publicKey
  }

  /// Parses a vkey with signature type 0x04.
  public init(vkey: String) throws(LedgerError) {
    let parts = vkey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, let id = Hex.decode(parts[1]), id.count == 4, let blob = Base64.decode(parts[2]),
      blob.count == 33, blob[0] == Cosignature.algorithm
    else { throw .invalidArgument("a witness key must be name+keyid+base64(0x04||ed25519 key)") }
    let key: Ed25519.PublicKey
    do { key = try Ed25519.PublicKey(rawRepresentation: Array(blob.dropFirst())) } catch {
      throw .invalidArgument("a witness key's public key is not Ed25519")
    }
    self.init(name: String(parts[0]), publicKey: key)
    guard keyID == id else { throw .invalidArgument("a witness key's key ID does not match its name and key") }
  }

  /// SHA-256(name || "\n" || 0x04 || public key)[:4].
  public var keyID: [UInt8] {
    Array(SHA256.hash(Array(name.utf8) + [0x0A, Cosignature.algorithm] + publicKey.rawRepresentation).bytes.prefix(4))
  }

  public var vkey: String {
    "\(name)+\(Hex.encode(keyID))+\(Base64.encode([Cosignature.algorithm] + publicKey.rawRepresentation))"
  }
}

/// Timestamped Ed25519 cosignatures over checkpoints (C2SP tlog-cosignature, `cosignature/v1`).
public enum Cosignature {
  static let algorithm: UInt8 = 0x04

  /// "cosignature/v1\ntime <t>\n" followed by the checkpoint's body (its text up to the blank line).
  public static func message(body: String, timestamp: UInt64) -> [UInt8] {
    Array("cosignature/v1\ntime \(timestamp)\n".utf8) + Array(body.utf8)
  }

  /// The note signature line (ending in a newline) by `name`'s `key` over `body` at `timestamp`.
  public static func line(body: String, timestamp: UInt64, name: String, key: Ed25519.PrivateKey) -> String {
    let cosigner = CosignerKey(name: name, publicKey: key.publicKey)
    var blob = cosigner.keyID
    withUnsafeBytes(of: timestamp.bigEndian) { blob += $0 }
    blob += key.signature(for: message(body: body, timestamp: timestamp))
    return "\u{2014} \(name) \(Base64.encode(blob))\n"
  }

  /// The timestamp of `cosigner`'s cosignature among the note signature `lines` over `body`; nil when
  /// there is none or when the first line with the cosigner's name and key ID does not verify. Only that
  /// line is checked: a known key's signature that fails rejects the note (C2SP signed-note), and a note
  /// padded with lines that look like the cosigner's costs one verification instead of one per line.
  public static func verified(lines: some Sequence<Substring>, body: String, cosigner: CosignerKey) -> UInt64? {
    let prefix = "\u{2014} \(cosigner.name) "
    let keyID = cosigner.keyID
    for line in lines where line.hasPrefix(prefix) {
      guard let blob = Base64.decode(line.dropFirst(prefix.count)), blob.count == 4 + 8 + 64, Array(blob.prefix(4)) == keyID else {
        continue
      }
      let timestamp = blob[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      return cosigner.publicKey.isValidSignature(Array(blob.suffix(64)), for: message(body: body, timestamp: timestamp)) ? timestamp : nil
    }
    return nil
  }
}
