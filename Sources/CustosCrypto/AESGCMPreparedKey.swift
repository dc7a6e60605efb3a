import CCustosOpenSSL
import Synchronization

extension AESGCM {
  /// An AES-GCM key used for many messages: the key schedule is computed once and kept in a small pool
  /// of OpenSSL contexts, so each message costs only its nonce setup and the cipher itself. Messages
  /// use 96-bit nonces. Contexts are wiped by OpenSSL when the key is released.
  public final class PreparedKey: Sendable {
    private let sealers: ContextPool
    private let openers: ContextPool

    /// Prepares a 16-, 24- or 32-byte key.
    public init(_ key: SecretBytes) throws(CryptoError) {
      let cipher: OpaquePointer
      switch key.count {
      case 16: cipher = EVP_aes_128_gcm()
      case 24: cipher = EVP_aes_192_gcm()
      case 32: cipher = EVP_aes_256_gcm()
      default: throw .invalidLength(what: "AES-GCM key", expected: "16, 24 or 32", got: key.count)
      }
      sealers = ContextPool(key: key, cipher: cipher, encrypting: true)
      openers = ContextPool(key: key, cipher: cipher, encrypting: false)
    }

    /// `prefix || nonce || ciphertext || tag` in one allocation: encrypts `plaintext` under a 12-byte `nonce`,
    /// authenticating `associatedData` followed by `moreAssociatedData`.
    public func seal(
      _ plaintext: some RawBytes, nonce: some RawBytes, associatedData: some RawBytes,
      moreAssociatedData: some RawBytes = [UInt8](), prefix: some RawBytes = [UInt8]()
    ) throws(CryptoError) -> [UInt8] {
      try checkNonce(nonce)
      let prefixCount = prefix.withUnsafeBytes { $0.count }
      return try seal(plaintext, associatedData: associatedData, moreAssociatedData, headerLength: prefixCount, nonceFromCSPRNG: false) { out in
        prefix.withUnsafeBytes { if $0.count > 0 { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        nonce.withUnsafeBytes { (out.baseAddress! + prefixCount).copyMemory(from: $0.baseAddress!, byteCount: standardNonceLength) }
      }
    }

    /// `header || nonce || ciphertext || tag` in one allocation, the 12-byte nonce fresh from the CSPRNG:
    /// the hot path of envelope formats. `writeHeader` fills the first `headerLength` bytes.
    public func sealWithRandomNonce(
      _ plaintext: some RawBytes, associatedData: some RawBytes, _ moreAssociatedData: some RawBytes, headerLength: Int,
      writeHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(CryptoError) -> [UInt8] {
      try seal(plaintext, associatedData: associatedData, moreAssociatedData, headerLength: headerLength, nonceFromCSPRNG: true) { out in
        writeHeader(UnsafeMutableRawBufferPointer(rebasing: out[0..<headerLength]))
        SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: out[headerLength..<(headerLength + standardNonceLength)]))
      }
    }

    private func seal(
      _ plaintext: some RawBytes, associatedData: some RawBytes, _ moreAssociatedData: some RawBytes, headerLength: Int,
      nonceFromCSPRNG: Bool, writeHeaderAndNonce: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(CryptoError) -> [UInt8] {
      let context = try sealers.take()
      defer { sealers.give(back: context) }
      let count = plaintext.withUnsafeBytes { $0.count }
      guard count <= Int(Int32.max) - 64 else { throw .invalidLength(what: "AES-GCM input", expected: "at most 2 GiB", got: count) }
      let nonceOffset = headerLength
      let bodyOffset = headerLength + standardNonceLength
      var ok = false
      let output = [UInt8](unsafeUninitializedCapacity: bodyOffset + count + tagLength) { buffer, initialized in
        let out = UnsafeMutableRawBufferPointer(buffer)
        writeHeaderAndNonce(out)
        ok = Self.run(
          context, nonce: UnsafeRawBufferPointer(rebasing: out[nonceOffset..<bodyOffset]), associatedData: associatedData,
          moreAssociatedData, input: plaintext, output: out.baseAddress! + bodyOffset, expectedTag: nil)
          && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagLength), out.baseAddress! + bodyOffset + count) == 1
        initialized = ok ? buffer.count : 0
      }
      guard ok else { throw .libraryFailure("GCM seal") }
      return output
    }

    /// Checks the tag at the end of `ciphertextAndTag` and decrypts. Throws `authenticationFailed` for
    /// any tampering, wrong key, nonce or AAD; no plaintext is returned unless the tag verifies.
    public func open(
      _ ciphertextAndTag: some RawBytes, nonce: some RawBytes, associatedData: some RawBytes,
      moreAssociatedData: some RawBytes = [UInt8]()
    ) throws(CryptoError) -> SecretBytes {
      try checkNonce(nonce)
      let total = ciphertextAndTag.withUnsafeBytes { $0.count }
      guard total >= tagLength else { throw .invalidLength(what: "AES-GCM ciphertext and tag", expected: "at least 16", got: total) }
      let context = try openers.take()
      defer { openers.give(back: context) }
      var plaintext = [UInt8](repeating: 0, count: total - tagLength)
      defer { SecretBytes.wipe(&plaintext) }
      let ok = ciphertextAndTag.withUnsafeBytes { sealed -> Bool in
        let ciphertext = UnsafeRawBufferPointer(rebasing: sealed[0..<(total - tagLength)])
        let tag = UnsafeRawBufferPointer(rebasing: sealed[(total - tagLength)...])
        return plaintext.withUnsafeMutableBytes { out in
          var scratch: UInt8 = 0
          return withUnsafeMutablePointer(to: &scratch) { empty in
            Self.run(
              context, nonce: nonce, associatedData: associatedData, moreAssociatedData, input: ciphertext,
              output: out.baseAddress ?? UnsafeMutableRawPointer(empty), expectedTag: tag)
          }
        }
      }
      guard ok else { throw .authenticationFailed }
      return SecretBytes(copying: plaintext)
    }

    private func checkNonce(_ nonce: some RawBytes) throws(CryptoError) {
      let count = nonce.withUnsafeBytes { $0.count }
      guard count == standardNonceLength else {
        throw .invalidLength(what: "AES-GCM nonce for a prepared key", expected: "\(standardNonceLength)", got: count)
      }
    }

    /// Sets the nonce (the key schedule stays), absorbs the AAD, processes `input` into `output` and
    /// finishes; when opening, `expectedTag` is set just before the finish, which checks it.
    private static func run(
      _ context: OpaquePointer, nonce: some RawBytes, associatedData: some RawBytes, _ moreAssociatedData: some RawBytes,
      input: some RawBytes,
      output: UnsafeMutableRawPointer, expectedTag: UnsafeRawBufferPointer?
    ) -> Bool {
      var length: Int32 = 0
      let started = nonce.withUnsafeBytes {
        EVP_CipherInit_ex(context, nil, nil, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), -1) == 1
      }
      guard started else { return false }
      func absorb(_ aad: UnsafeRawBufferPointer) -> Bool {
        aad.count == 0
          || EVP_CipherUpdate(context, nil, &length, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1
      }
      guard associatedData.withUnsafeBytes(absorb), moreAssociatedData.withUnsafeBytes(absorb) else { return false }
      let count = input.withUnsafeBytes { source -> Int32? in
        guard source.count > 0 else { return 0 }
        let out = output.assumingMemoryBound(to: UInt8.self)
        guard EVP_CipherUpdate(context, out, &length, source.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(source.count)) == 1
        else { return nil }
        return length
      }
      guard let count else { return false }
      if let expectedTag {
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), UnsafeMutableRawPointer(mutating: expectedTag.baseAddress)) == 1
        else { return false }
      }
      return EVP_CipherFinal_ex(context, output.assumingMemoryBound(to: UInt8.self) + Int(count), &length) == 1
    }
  }
}

/// OpenSSL contexts with the key schedule set, reused across messages; one user at a time each.
private final class ContextPool: Sendable {
  // Contexts are owned by the pool while idle and by exactly one caller between take and give(back:).
  private let idle = Mutex<[UInt]>([])
  private let key: SecretBytes
  private let cipher: UInt
  private let encrypting: Bool
  private static let maximumIdle = 8

  init(key: SecretBytes, cipher: OpaquePointer, encrypting: Bool) {
    self.key = key
    self.cipher = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(cipher)))
    self.encrypting = encrypting
  }

  func take() throws(CryptoError) -> OpaquePointer {
    if let address = idle.withLock({ $0.popLast() }) { return OpaquePointer(bitPattern: address)! }
    guard let context = EVP_CIPHER_CTX_new() else { throw .libraryFailure("cipher context") }
    let cipher = OpaquePointer(bitPattern: self.cipher)
    let ok = key.withUnsafeBytes { k in
      EVP_CipherInit_ex(context, cipher, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, encrypting ? 1 : 0) == 1
    }
    guard ok else {
      EVP_CIPHER_CTX_free(context)
      throw .libraryFailure("cipher key setup")
    }
    return context
  }

  func give(back context: OpaquePointer) {
    let address = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(context)))
    let kept = idle.withLock { idle -> Bool in
      guard idle.count < Self.maximumIdle else { return false }
      idle.append(address)
      return true
    }
    if !kept { EVP_CIPHER_CTX_free(context) }
  }

  deinit {
    // EVP_CIPHER_CTX_free cleanses the key schedule.
    for address in idle.withLock({ $0 }) { EVP_CIPHER_CTX_free(OpaquePointer(bitPattern: address)) }
  }
}
