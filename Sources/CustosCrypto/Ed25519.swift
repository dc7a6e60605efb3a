import CCustosOpenSSL

/// Ed25519 signatures (RFC 8032), through OpenSSL's EVP_PKEY API. Signing is deterministic.
public enum Ed25519 {
  /// Length of a raw private key (the RFC 8032 seed), a raw public key, and a signature.
  public static let privateKeyLength = 32
  public static let publicKeyLength = 32
  public static let signatureLength = 64

  /// A signing key. The raw seed lives in `SecretBytes`; the OpenSSL key object is built once and reused.
  public final class PrivateKey: Sendable {
    private let key: PKey
    /// The raw 32-byte seed, for sealing to disk. Handle it as a secret.
    public let rawRepresentation: SecretBytes
    /// The matching public key.
    public let publicKey: PublicKey

    /// A fresh key from the CSPRNG.
    public convenience init() {
      // 32 random bytes are always a valid Ed25519 seed.
      try! self.init(rawRepresentation: SecretBytes.random(count: Ed25519.privateKeyLength))
    }

    /// Imports a raw 32-byte seed.
    public init(rawRepresentation seed: SecretBytes) throws(CryptoError) {
      guard seed.count == Ed25519.privateKeyLength else {
        throw .invalidLength(what: "Ed25519 private key", expected: "32", got: seed.count)
      }
      let pkey = seed.withUnsafeBytes {
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
      }
      guard let pkey else { throw .libraryFailure("Ed25519 key import") }
      key = PKey(pkey)
      rawRepresentation = seed
      var publicBytes = [UInt8](repeating: 0, count: 32)
      var length = 32
      let rc = publicBytes.withUnsafeMutableBytes {
        EVP_PKEY_get_raw_public_key(pkey, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
      }
      guard rc == 1, length == 32 else { throw .libraryFailure("Ed25519 public key export") }
      publicKey = try PublicKey(rawRepresentation: publicBytes)
    }

    /// The 64-byte signature of `message`.
    public func signature(for message: some RawBytes) -> [UInt8] {
      guard let context = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed") }
      defer { EVP_MD_CTX_free(context) }
      precondition(EVP_DigestSignInit(context, nil, nil, nil, key.pointer) == 1, "Ed25519 sign init failed")
      var signature = [UInt8](repeating: 0, count: 64)
      var length = 64
      let rc = message.withUnsafeBytes { m in
        signature.withUnsafeMutableBytes { s in
          EVP_DigestSign(
            context, s.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
            m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count)
        }
      }
      precondition(rc == 1 && length == 64, "Ed25519 signing failed")
      return signature
    }
  }

  /// A verification key.
  public struct PublicKey: Sendable, Hashable {
    /// The raw 32-byte encoding (RFC 8032 §5.1.5).
    public let rawRepresentation: [UInt8]
    private let key: PKey

    /// Imports a raw 32-byte public key. Encodings OpenSSL cannot decode are rejected here.
    public init(rawRepresentation: some RawBytes) throws(CryptoError) {
      let bytes = rawRepresentation.withUnsafeBytes { Array($0) }
      guard bytes.count == Ed25519.publicKeyLength else {
        throw .invalidLength(what: "Ed25519 public key", expected: "32", got: bytes.count)
      }
      let pkey = bytes.withUnsafeBytes {
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
      }
      guard let pkey else { throw .malformedEncoding("not an Ed25519 public key") }
      self.rawRepresentation = bytes
      self.key = PKey(pkey)
    }

    /// True when `signature` is a valid signature of `message` under this key. Malformed signatures
    /// (wrong length, non-canonical S) are simply invalid.
    public func isValidSignature(_ signature: some RawBytes, for message: some RawBytes) -> Bool {
      guard let context = EVP_MD_CTX_new() else { return false }
      defer { EVP_MD_CTX_free(context) }
      guard EVP_DigestVerifyInit(context, nil, nil, nil, key.pointer) == 1 else { return false }
      return signature.withUnsafeBytes { s in
        guard s.count == Ed25519.signatureLength else { return false }
        return message.withUnsafeBytes { m in
          EVP_DigestVerify(
            context, s.baseAddress!.assumingMemoryBound(to: UInt8.self), s.count,
            m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count) == 1
        }
      }
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.rawRepresentation == b.rawRepresentation }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }
  }
}

/// Owns one `EVP_PKEY`. OpenSSL documents EVP_PKEY objects as safe for concurrent use once built
/// (each sign/verify uses its own EVP_MD_CTX), and the pointer is never mutated after init.
private final class PKey: @unchecked Sendable {
  let pointer: OpaquePointer
  init(_ pointer: OpaquePointer) { self.pointer = pointer }
  deinit { EVP_PKEY_free(pointer) }
}
