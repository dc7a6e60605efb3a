import CustosCrypto
import Testing

@Suite struct WycheproofTests {
  @Test func aesGCMAcceptsEveryValidAndRejectsEveryInvalidCase() throws {
    let cases = wycheproofCases(try loadVectorJSON("aes_gcm_test.json"))
    #expect(cases.count == 316)
    var longIVCases = 0
    for (_, test) in cases {
      let id = test["tcId"] as! Int
      let key = hex(test["key"]), iv = hex(test["iv"]), aad = hex(test["aad"])
      let msg = hex(test["msg"]), ct = hex(test["ct"]), tag = hex(test["tag"])
      let valid = test["result"] as! String == "valid"
      let opened = try? AESGCM.open(.init(ciphertext: ct, tag: tag), key: key, nonce: iv, associatedData: aad)
      if valid && iv.count > AESGCM.maximumNonceLength {
        // OpenSSL's GCM caps IVs at 128 bytes: such a case must be refused with a length error, not
        // silently mis-decrypted. Counted so a change in the cap cannot hide here.
        longIVCases += 1
        #expect(throws: CryptoError.invalidLength(what: "AES-GCM nonce", expected: "1...128", got: iv.count)) {
          try AESGCM.seal(msg, key: key, nonce: iv, associatedData: aad)
        }
      } else if valid {
        let plaintext = try #require(opened, "case \(id) should decrypt")
        #expect(plaintext.withUnsafeBytes { Array($0) } == msg, "case \(id)")
        let sealed = try AESGCM.seal(msg, key: key, nonce: iv, associatedData: aad)
        #expect(sealed.ciphertext == ct && sealed.tag == tag, "case \(id) should encrypt to the vector")
      } else {
        #expect(opened == nil, "case \(id) must be rejected")
      }
    }
    #expect(longIVCases == 3, "only the three 2056-bit IV cases exceed OpenSSL's limit")
  }

  /// The prepared (pooled key schedule) form, on every case with a 96-bit nonce and a 128-bit tag; the
  /// same key is reused across its cases and after failures, as the pool does in service.
  @Test func aesGCMPreparedKeyAgreesOnEveryStandardNonceCase() throws {
    var checked = 0
    var prepared: [[UInt8]: AESGCM.PreparedKey] = [:]
    for (_, test) in wycheproofCases(try loadVectorJSON("aes_gcm_test.json")) {
      let id = test["tcId"] as! Int
      let key = hex(test["key"]), iv = hex(test["iv"]), aad = hex(test["aad"])
      let msg = hex(test["msg"]), ct = hex(test["ct"]), tag = hex(test["tag"])
      guard iv.count == AESGCM.standardNonceLength, tag.count == AESGCM.tagLength else { continue }
      if prepared[key] == nil { prepared[key] = try AESGCM.PreparedKey(SecretBytes(copying: key)) }
      let prepared = prepared[key]!
      let opened = try? prepared.open(ct + tag, nonce: iv, associatedData: aad)
      if test["result"] as! String == "valid" {
        #expect(try #require(opened, "case \(id) should decrypt").withUnsafeBytes { Array($0) } == msg, "case \(id)")
        #expect(try prepared.seal(msg, nonce: iv, associatedData: aad, prefix: [7, 7]) == [7, 7] + iv + ct + tag, "case \(id)")
      } else {
        #expect(opened == nil, "case \(id) must be rejected")
      }
      checked += 1
    }
    #expect(checked > 150)
    let key = try AESGCM.PreparedKey(SecretBytes.random(count: 32))
    #expect(throws: CryptoError.self) { try key.seal([1], nonce: [UInt8](repeating: 0, count: 16), associatedData: [UInt8]()) }
    #expect(throws: CryptoError.self) { try key.open([UInt8](repeating: 0, count: 15), nonce: [UInt8](repeating: 0, count: 12), associatedData: [UInt8]()) }
    #expect(throws: CryptoError.self) { try AESGCM.PreparedKey(SecretBytes.random(count: 31)) }
  }

  @Test func ed25519AcceptsEveryValidAndRejectsEveryInvalidSignature() throws {
    let cases = wycheproofCases(try loadVectorJSON("ed25519_test.json"))
    #expect(cases.count == 151)
    for (group, test) in cases {
      let key = try Ed25519.PublicKey(rawRepresentation: hex((group["publicKey"] as! [String: Any])["pk"]))
      let ok = key.isValidSignature(hex(test["sig"]), for: hex(test["msg"]))
      #expect(ok == (test["result"] as! String == "valid"), "case \(test["tcId"]!)")
    }
  }

  @Test func hkdfMatchesEveryValidAndRejectsEveryInvalidCase() throws {
    let cases = wycheproofCases(try loadVectorJSON("hkdf_sha256_test.json"))
    #expect(cases.count == 86)
    for (_, test) in cases {
      let size = test["size"] as! Int
      let result = try? HKDF.deriveKey(
        inputKeyMaterial: hex(test["ikm"]), salt: hex(test["salt"]), info: hex(test["info"]), outputLength: size)
      if test["result"] as! String == "valid" {
        let okm = try #require(result, "case \(test["tcId"]!)")
        #expect(okm.withUnsafeBytes { Array($0) } == hex(test["okm"]), "case \(test["tcId"]!)")
      } else {
        #expect(result == nil, "case \(test["tcId"]!) must be rejected")
      }
    }
  }

  @Test func hmacAcceptsEveryValidAndRejectsEveryInvalidTag() throws {
    let cases = wycheproofCases(try loadVectorJSON("hmac_sha256_test.json"))
    #expect(cases.count == 174)
    for (_, test) in cases {
      let ok = HMACSHA256.isValid(tag: hex(test["tag"]), key: hex(test["key"]), message: hex(test["msg"]))
      #expect(ok == (test["result"] as! String == "valid"), "case \(test["tcId"]!)")
    }
  }
}
