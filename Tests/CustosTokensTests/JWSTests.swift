import CustosCrypto
import CustosJSON
import Testing

@testable import CustosTokens

@Suite struct JWSTests {
  /// RFC 8037 appendix A.1 key.
  static let rfcKey = try! Ed25519.PrivateKey(
    rawRepresentation: SecretBytes(copying: Base64.decodeURL("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")!))

  @Test func reproducesRFC8037AppendixA() throws {
    #expect(Base64.encodeURL(Self.rfcKey.publicKey.rawRepresentation) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    // A.3: the JWK thumbprint.
    #expect(SigningKey.thumbprint(Self.rfcKey.publicKey) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    // A.4: the signature over {"alg":"EdDSA"} and "Example of Ed25519 signing".
    let token = JWS.sign(header: Array("{\"alg\":\"EdDSA\"}".utf8), payload: Array("Example of Ed25519 signing".utf8), key: Self.rfcKey)
    #expect(token == "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
      + "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
    let parts = try JWS.parse(token)
    #expect(parts.algorithm == "EdDSA")
    #expect(Self.rfcKey.publicKey.isValidSignature(parts.signature, for: parts.signingInput))
  }

  @Test func base64URLIsStrict() {
    #expect(Base64.encodeURL([0xfb, 0xff]) == "-_8")
    #expect(Base64.decodeURL("-_8") == [0xfb, 0xff])
    for bad in ["-_8=", "+/8", "A", "-_9"] { #expect(Base64.decodeURL(bad) == nil, "\(bad)") }
  }
}
