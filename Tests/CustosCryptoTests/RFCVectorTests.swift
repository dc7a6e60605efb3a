import CustosCrypto
import Testing

@Suite struct RFCVectorTests {
  // RFC 8032 §7.1, tests 1-3: secret key, public key, message, signature.
  static let ed25519Vectors: [(String, String, String, String)] = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
  ]

  @Test(arguments: 0..<3) func ed25519RFC8032(_ i: Int) throws {
    let (sk, pk, msg, sig) = Self.ed25519Vectors[i]
    var seed = hex(sk)
    let key = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(consuming: &seed))
    #expect(seed.allSatisfy { $0 == 0 }, "consuming init wipes the caller's copy")
    #expect(key.publicKey.rawRepresentation == hex(pk))
    let signature = key.signature(for: hex(msg))
    #expect(signature == hex(sig))
    #expect(key.publicKey.isValidSignature(signature, for: hex(msg)))
    #expect(!key.publicKey.isValidSignature(signature, for: hex(msg) + [0]))
  }

  @Test func ed25519GeneratedKeysRoundTrip() throws {
    let key = Ed25519.PrivateKey()
    let again = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: key.rawRepresentation.withUnsafeBytes { Array($0) }))
    #expect(again.publicKey == key.publicKey)
    #expect(key.publicKey.isValidSignature(key.signature(for: [1, 2, 3]), for: [1, 2, 3]))
  }

  // RFC 4231 §4.2, §4.3, §4.7 (test cases 1, 2, 6).
  @Test func hmacRFC4231() {
    #expect(HMACSHA256.authenticationCode(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)).hex
      == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    #expect(HMACSHA256.authenticationCode(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)).hex
      == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    #expect(HMACSHA256.authenticationCode(
      key: [UInt8](repeating: 0xaa, count: 131),
      message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)).hex
      == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
  }

  // RFC 5869 appendix A.1 and A.3.
  @Test func hkdfRFC5869() throws {
    let a1 = try HKDF.deriveKey(
      inputKeyMaterial: [UInt8](repeating: 0x0b, count: 22), salt: hex("000102030405060708090a0b0c"),
      info: hex("f0f1f2f3f4f5f6f7f8f9"), outputLength: 42)
    #expect(a1.withUnsafeBytes { Array($0) } == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
    let a3 = try HKDF.deriveKey(inputKeyMaterial: [UInt8](repeating: 0x0b, count: 22), salt: [UInt8](), info: [UInt8](), outputLength: 42)
    #expect(a3.withUnsafeBytes { Array($0) } == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    #expect(throws: CryptoError.self) { try HKDF.deriveKey(inputKeyMaterial: [1], salt: [UInt8](), info: [UInt8](), outputLength: 8161) }
  }

  // RFC 9106 §5.3: Argon2id with secret and associated data.
  @Test func argon2idRFC9106() throws {
    let tag = try Argon2id.deriveKey(
      password: [UInt8](repeating: 0x01, count: 32), salt: [UInt8](repeating: 0x02, count: 16),
      parameters: .init(memoryKiB: 32, iterations: 3, parallelism: 4), outputLength: 32,
      secret: [UInt8](repeating: 0x03, count: 8), associatedData: [UInt8](repeating: 0x04, count: 12))
    #expect(tag.withUnsafeBytes { Array($0) } == hex("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"))
  }

  @Test func argon2idPHCStringsVerifyOnlyTheRightPassword() throws {
    let params = Argon2id.Parameters(memoryKiB: 1024, iterations: 1, parallelism: 1)
    let phc = try Argon2id.hashPassword(Array("correct horse".utf8), parameters: params)
    #expect(phc.hasPrefix("$argon2id$v=19$m=1024,t=1,p=1$"))
    #expect(try Argon2id.verifyPassword(Array("correct horse".utf8), phcString: phc))
    #expect(try !Argon2id.verifyPassword(Array("correct horsf".utf8), phcString: phc))
    #expect(throws: CryptoError.self) { try Argon2id.verifyPassword([1], phcString: "$argon2i$v=19$garbage") }
    #expect(throws: CryptoError.self) { try Argon2id.verifyPassword([1], phcString: "$argon2id$v=19$garbage") }
  }

  @Test func sha256KnownAnswersAndIncrementalAgree() {
    #expect(SHA256.hash([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    var hasher = SHA256()
    hasher.update(Array("a".utf8))
    hasher.update(byte: UInt8(ascii: "b"))
    hasher.update(Array("c".utf8))
    #expect(hasher.finalize() == SHA256.hash(Array("abc".utf8)))
  }

  @Test func constantTimeEqualsComparesLengthAndBytes() {
    #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
    #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
    #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
    #expect(ConstantTime.equals([UInt8](), [UInt8]()))
  }

  @Test func aesGCMRejectsTamperingAndBadSizes() throws {
    let key = SecureRandom.bytes(32), nonce = SecureRandom.bytes(12)
    let box = try AESGCM.seal(Array("secret".utf8), key: key, nonce: nonce, associatedData: Array("ctx".utf8))
    var tampered = box
    tampered.ciphertext[0] ^= 1
    #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(tampered, key: key, nonce: nonce, associatedData: Array("ctx".utf8)) }
    #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(box, key: key, nonce: nonce, associatedData: Array("other".utf8)) }
    #expect(throws: CryptoError.self) { try AESGCM.seal([1], key: [UInt8](repeating: 0, count: 31), nonce: nonce) }
    #expect(throws: CryptoError.self) { try AESGCM.seal([1], key: key, nonce: [UInt8]()) }
  }

  @Test func secretBytesLendsItsBytesAndRandomIsFresh() {
    let a = SecretBytes.random(count: 32), b = SecretBytes.random(count: 32)
    #expect(a.count == 32)
    #expect(!ConstantTime.equals(a, b))
  }
}
