import CustosCrypto
import CustosJSON

/// The ciphertexts keyrings produce: `0x01 || version (u32, big-endian) || nonce (12) || ciphertext || tag (16)`.
///
/// The AAD, `"custos/keyring-data/v1" 0x00 || len(name) (u32) || name || version (u32) || canonical JSON
/// of the context` (empty for no context), binds the keyring name, the version and the caller's
/// encryption context: a ciphertext only decrypts under the keyring and version it names, with the
/// context it was made with.
public enum KeyringCiphertext {
  static let formatByte: UInt8 = 0x01
  /// Bytes added to the plaintext.
  public static let overhead = 1 + 4 + AESGCM.standardNonceLength + AESGCM.tagLength

  /// The key version a ciphertext names, after checking its format and length.
  public static func version(of ciphertext: [UInt8]) throws(KeyError) -> UInt32 {
    guard ciphertext.count > overhead else {
      throw .invalidArgument("ciphertext: \(ciphertext.count) bytes is too short to be a Custos ciphertext")
    }
    guard ciphertext[0] == formatByte else {
      throw .invalidArgument("ciphertext: unknown format byte 0x\(Hex.encode([ciphertext[0]])) (expected 0x01)")
    }
    return UInt32(ciphertext[1]) << 24 | UInt32(ciphertext[2]) << 16 | UInt32(ciphertext[3]) << 8 | UInt32(ciphertext[4])
  }

  static func seal(_ plaintext: some RawBytes, key: AESGCM.PreparedKey, version: UInt32, aadPrefix: [UInt8], context: EncryptionContext) throws(KeyError) -> [UInt8] {
    do {
      return try key.sealWithRandomNonce(plaintext, associatedData: aadPrefix, context.canonicalBytes, headerLength: 5) { header in
        header[0] = formatByte
        header.storeBytes(of: version.bigEndian, toByteOffset: 1, as: UInt32.self)
      }
    } catch {
      throw .corrupted("encryption failed: \(error)")
    }
  }

  /// The plaintext of a ciphertext whose `version(of:)` was read, under that version's key; public for the fuzzer.
  public static func open(_ ciphertext: [UInt8], key: AESGCM.PreparedKey, keyring: String, version: UInt32, aadPrefix: [UInt8], context: EncryptionContext) throws(KeyError) -> SecretBytes {
    let nonceEnd = 5 + AESGCM.standardNonceLength
    do {
      return try key.open(ciphertext[nonceEnd...], nonce: ciphertext[5..<nonceEnd], associatedData: aadPrefix, moreAssociatedData: context.canonicalBytes)
    } catch {
      throw .decryptionFailed(
        "ciphertext does not decrypt under keyring \"\(keyring)\" version \(version) with this encryption context: it was altered, or the context differs")
    }
  }

  /// What the AAD starts with for one keyring version; the encryption context's canonical JSON follows.
  public static func associatedDataPrefix(keyring: String, version: UInt32) -> [UInt8] {
    var aad = Array("custos/keyring-data/v1".utf8)
    aad.append(0)
    appendUInt32(UInt32(keyring.utf8.count), to: &aad)
    aad.append(contentsOf: keyring.utf8)
    appendUInt32(version, to: &aad)
    return aad
  }

  static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
  }
}

/// The caller's encryption context: string pairs bound into the AAD. Decrypting needs the same pairs.
public struct EncryptionContext: Sendable, Equatable {
  public static let maximumPairs = 64
  public static let maximumBytes = 8 * 1024

  public let pairs: [String: String]
  let canonicalBytes: [UInt8]

  /// Validates the pairs (count, total size, non-empty keys).
  public init(_ pairs: [String: String]) throws(KeyError) {
    guard pairs.count <= Self.maximumPairs else {
      throw .invalidArgument("context: \(pairs.count) pairs exceeds the limit of \(Self.maximumPairs)")
    }
    guard !pairs.keys.contains("") else { throw .invalidArgument("context: a key is empty") }
    let bytes = pairs.isEmpty ? [] : CanonicalJSON.encode(.object(pairs.mapValues { .string($0) }))
    guard bytes.count <= Self.maximumBytes else {
      throw .invalidArgument("context: \(bytes.count) bytes exceeds the limit of \(Self.maximumBytes)")
    }
    self.pairs = pairs
    self.canonicalBytes = bytes
  }

  public static let empty = try! EncryptionContext([:])

  /// The keys, sorted: what the ledger records by default (values may be sensitive).
  public var sortedKeys: [String] { CanonicalJSON.sortedKeys(pairs.keys) }
}
