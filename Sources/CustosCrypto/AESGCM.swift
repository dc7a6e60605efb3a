import CCustosOpenSSL

/// AES-GCM authenticated encryption (NIST SP 800-38D) with 128-bit tags, through OpenSSL's EVP API.
///
/// Custos stores data keys as AES-256 (32-byte keys); 16- and 24-byte keys are accepted so the primitive
/// can be checked against the full Wycheproof suite.
public enum AESGCM {
  /// Length of the authentication tag appended to every ciphertext.
  public static let tagLength = 16
  /// The nonce length Custos generates (96 bits, the length GCM is designed for).
  public static let standardNonceLength = 12
  /// The longest nonce OpenSSL's GCM accepts.
  public static let maximumNonceLength = 128

  /// The ciphertext and tag of a sealed message.
  public struct SealedBox: Sendable, Equatable {
    public var ciphertext: [UInt8]
    public var tag: [UInt8]
    public init(ciphertext: [UInt8], tag: [UInt8]) {
      self.ciphertext = ciphertext
      self.tag = tag
    }
  }

  /// Encrypts and authenticates `plaintext`, binding `associatedData`.
  public static func seal(
    _ plaintext: some RawBytes, key: some RawBytes, nonce: some RawBytes,
    associatedData: some RawBytes = [UInt8]()
  ) throws(CryptoError) -> SealedBox {
    let context = try Context(key: key, nonce: nonce, encrypting: true)
    var ciphertext = [UInt8]()
    try context.process(associatedData: associatedData)
    ciphertext = try context.process(plaintext)
    try context.finish()
    var tag = [UInt8](repeating: 0, count: tagLength)
    let rc = tag.withUnsafeMutableBytes {
      EVP_CIPHER_CTX_ctrl(context.pointer, EVP_CTRL_GCM_GET_TAG, Int32(tagLength), $0.baseAddress)
    }
    guard rc == 1 else { throw .libraryFailure("GCM tag") }
    return SealedBox(ciphertext: ciphertext, tag: tag)
  }

  /// Checks the tag and decrypts. Throws `authenticationFailed` for any tampering, wrong key, nonce or AAD;
  /// no plaintext is returned unless the tag verifies.
  public static func open(
    _ box: SealedBox, key: some RawBytes, nonce: some RawBytes,
    associatedData: some RawBytes = [UInt8]()
  ) throws(CryptoError) -> SecretBytes {
    guard box.tag.count == tagLength else {
      throw .invalidLength(what: "GCM tag", expected: "\(tagLength)", got: box.tag.count)
    }
    let context = try Context(key: key, nonce: nonce, encrypting: false)
    try context.process(associatedData: associatedData)
    var plaintext = try context.process(box.ciphertext)
    defer { SecretBytes.wipe(&plaintext) }
    var tag = box.tag
    let rc = tag.withUnsafeMutableBytes {
      EVP_CIPHER_CTX_ctrl(context.pointer, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), $0.baseAddress)
    }
    guard rc == 1 else { throw .libraryFailure("GCM tag") }
    do { try context.finish() } catch { throw .authenticationFailed }
    return SecretBytes(copying: plaintext)
  }

  private final class Context {
    let pointer: OpaquePointer
    let encrypting: Bool

    init(key: some RawBytes, nonce: some RawBytes, encrypting: Bool) throws(CryptoError) {
      let cipher: OpaquePointer
      let keyLength = key.withUnsafeBytes { $0.count }
      switch keyLength {
      case 16: cipher = EVP_aes_128_gcm()
      case 24: cipher = EVP_aes_192_gcm()
      case 32: cipher = EVP_aes_256_gcm()
      default: throw .invalidLength(what: "AES-GCM key", expected: "16, 24 or 32", got: keyLength)
      }
      let nonceLength = nonce.withUnsafeBytes { $0.count }
      // A zero-length IV makes GCM leak its authentication key (CVE-2017-7822); refuse it.
      // OpenSSL's GCM holds at most 128 IV bytes; Custos itself only ever uses 12.
      guard nonceLength >= 1, nonceLength <= AESGCM.maximumNonceLength else {
        throw .invalidLength(what: "AES-GCM nonce", expected: "1...\(AESGCM.maximumNonceLength)", got: nonceLength)
      }
      guard let pointer = EVP_CIPHER_CTX_new() else { throw .libraryFailure("cipher context") }
      self.pointer = pointer
      self.encrypting = encrypting
      let enc: Int32 = encrypting ? 1 : 0
      guard EVP_CipherInit_ex(pointer, cipher, nil, nil, nil, enc) == 1,
        EVP_CIPHER_CTX_ctrl(pointer, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceLength), nil) == 1
      else { throw .libraryFailure("cipher init") }
      let rc = key.withUnsafeBytes { k in
        nonce.withUnsafeBytes { n in
          EVP_CipherInit_ex(
            pointer, nil, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self),
            n.baseAddress!.assumingMemoryBound(to: UInt8.self), enc)
        }
      }
      guard rc == 1 else { throw .libraryFailure("cipher key setup") }
    }

    func process(associatedData: some RawBytes) throws(CryptoError) {
      let rc: Int32 = associatedData.withUnsafeBytes { aad in
        guard aad.count > 0 else { return 1 }
        var outLength: Int32 = 0
        return EVP_CipherUpdate(
          pointer, nil, &outLength, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count))
      }
      guard rc == 1 else { throw .libraryFailure("GCM AAD") }
    }

    func process(_ input: some RawBytes) throws(CryptoError) -> [UInt8] {
      let count = input.withUnsafeBytes { $0.count }
      guard count > 0 else { return [] }
      guard count <= Int(Int32.max) else {
        throw .invalidLength(what: "AES-GCM input", expected: "at most \(Int32.max)", got: count)
      }
      var output = [UInt8](repeating: 0, count: count)
      var outLength: Int32 = 0
      let rc = input.withUnsafeBytes { source in
        output.withUnsafeMutableBytes { out in
          EVP_CipherUpdate(
            pointer, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &outLength,
            source.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count))
        }
      }
      guard rc == 1, Int(outLength) == count else { throw .libraryFailure("GCM update") }
      return output
    }

    func finish() throws(CryptoError) {
      var scratch = [UInt8](repeating: 0, count: 16)
      var outLength: Int32 = 0
      let rc = scratch.withUnsafeMutableBytes {
        EVP_CipherFinal_ex(pointer, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &outLength)
      }
      guard rc == 1 else { throw encrypting ? .libraryFailure("GCM final") : .authenticationFailed }
    }

    deinit { EVP_CIPHER_CTX_free(pointer) }
  }
}
