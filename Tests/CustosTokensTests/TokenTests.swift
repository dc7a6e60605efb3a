import CustosCrypto
import CustosJSON
import Testing

@testable import CustosTokens

@Suite struct TokenTests {
  static let second: Int64 = 1_000_000_000
  static let start: Int64 = 1_800_000_000 * second
  let client = ServiceClient(
    id: "billing-worker", displayName: "Billing worker", roles: ["Role::\"payments\""], audiences: ["custos", "erp"])
  let issuer = TokenIssuer(issuer: "https://custos.local")
  let verifier = TokenVerifier(issuer: "https://custos.local", audience: "custos", skewSeconds: 60)

  func ring() -> SigningKeyRing {
    var ring = SigningKeyRing(keys: [], retention: (900 + 60) * Self.second)
    ring.rotate(now: Self.start, leadTime: 0)
    return ring
  }

  func keys(_ ring: SigningKeyRing, at now: Int64) -> [String: Ed25519.PublicKey] {
    Dictionary(uniqueKeysWithValues: ring.published(at: now).map { ($0.kid, $0.publicKey) })
  }

  @Test func issuedTokensCarryTheRFC9068ClaimsAndVerify() throws {
    let ring = ring()
    let key = try #require(ring.signer(at: Self.start))
    let (token, claims) = try issuer.issue(client: client, audience: "custos", scope: "check", ttlSeconds: 900, now: Self.start, key: key)
    let parts = try JWS.parse(token)
    #expect(parts.header == ["alg": .string("EdDSA"), "kid": .string(key.kid), "typ": .string("at+jwt")])
    #expect(claims.expiresAt - claims.issuedAt == 900 && claims.notBefore == claims.issuedAt)
    #expect(claims.subject == "billing-worker" && claims.clientID == "billing-worker" && claims.roles == ["Role::\"payments\""])
    let verified = try verifier.verify(token, keys: keys(ring, at: Self.start), now: Self.start + 10 * Self.second)
    #expect(verified == claims)
    #expect(throws: TokenError.invalidArgument("audience \"payroll\" is not allowed for client billing-worker")) {
      try issuer.issue(client: client, audience: "payroll", scope: "", ttlSeconds: 900, now: Self.start, key: key)
    }
  }

  @Test func theRejectionMatrix() throws {
    let ring = ring()
    let key = try #require(ring.signer(at: Self.start))
    let known = keys(ring, at: Self.start)
    let (token, _) = try issuer.issue(client: client, audience: "custos", scope: "", ttlSeconds: 900, now: Self.start, key: key)
    let at = Self.start + Self.second
    func refused(_ token: String, now: Int64 = Self.start + Self.second, keys: [String: Ed25519.PublicKey]? = nil, verifier: TokenVerifier? = nil) -> TokenError? {
      do {
        _ = try (verifier ?? self.verifier).verify(token, keys: keys ?? known, now: now)
        return nil
      } catch { return error }
    }
    #expect(refused("not a token") == .malformed("expected three dot-separated parts"))
    #expect(refused("a.b") == .malformed("expected three dot-separated parts"))
    // alg none, and HS256 "signed" with the public key (the classic confusion attack).
    let noneHeader = Base64.encodeURL(Array("{\"alg\":\"none\",\"kid\":\"\(key.kid)\"}".utf8))
    let body = token.split(separator: ".")[1]
    #expect(refused("\(noneHeader).\(body).") == .unsupportedAlgorithm("none"))
    let hsHeader = Base64.encodeURL(Array("{\"alg\":\"HS256\",\"kid\":\"\(key.kid)\"}".utf8))
    let hsInput = "\(hsHeader).\(body)"
    let hsSignature = HMACSHA256.authenticationCode(key: key.publicKey.rawRepresentation, message: Array(hsInput.utf8)).withUnsafeBytes { Array($0) }
    #expect(refused("\(hsInput).\(Base64.encodeURL(hsSignature))") == .unsupportedAlgorithm("HS256"))
    // Unknown kid, forged payload, forged signature.
    #expect(refused(token, keys: [:]) == .unknownKey(key.kid))
    var claims = try AccessTokenClaims(json: Base64.decodeURL(body)!)
    claims.roles = ["Role::\"admin\""]
    let forged = token.split(separator: ".")[0] + "." + Base64.encodeURL(CanonicalJSON.encode(claims.json)) + "." + token.split(separator: ".")[2]
    #expect(refused(String(forged)) == .badSignature)
    // Time, with 60 s of skew either way.
    #expect(refused(token, now: Self.start + (900 + 59) * Self.second) == nil)
    #expect(refused(token, now: Self.start + (900 + 60) * Self.second) == .expired)
    #expect(refused(token, now: Self.start - 60 * Self.second) == nil)
    #expect(refused(token, now: Self.start - 61 * Self.second) == .notYetValid)
    // Audience and issuer.
    #expect(refused(token, verifier: TokenVerifier(issuer: "https://custos.local", audience: "erp")) == .wrongAudience("erp"))
    #expect(refused(token, verifier: TokenVerifier(issuer: "https://other", audience: "custos")) == .wrongIssuer("https://other"))
    // Revocation is asked last.
    #expect(throws: TokenError.revoked) { try verifier.verify(token, keys: known, now: at) { $0.id == claims.id } }
  }

  /// Tokens of the old key verify until they expire; new tokens carry the new kid once it activates; a
  /// verifier that fetched the JWKS between publication and activation already knows the new key.
  @Test func signingKeyRotation() throws {
    var ring = ring()
    let old = try #require(ring.signer(at: Self.start))
    let (oldToken, _) = try issuer.issue(client: client, audience: "custos", scope: "", ttlSeconds: 900, now: Self.start, key: old)

    let rotatedAt = Self.start + 100 * Self.second
    let lead: Int64 = 300 * Self.second
    let new = ring.rotate(now: rotatedAt, leadTime: lead)
    let fetchedBeforeActivation = keys(ring, at: rotatedAt + Self.second)
    #expect(fetchedBeforeActivation.keys.contains(new.kid) && fetchedBeforeActivation.keys.contains(old.kid))
    #expect(ring.signer(at: rotatedAt + lead - Self.second)?.kid == old.kid)
    let signer = try #require(ring.signer(at: rotatedAt + lead))
    #expect(signer.kid == new.kid)
    let (newToken, _) = try issuer.issue(client: client, audience: "custos", scope: "", ttlSeconds: 900, now: rotatedAt + lead, key: signer)
    #expect(try JWS.parse(newToken).keyID == new.kid)
    #expect(try verifier.verify(newToken, keys: fetchedBeforeActivation, now: rotatedAt + lead).subject == "billing-worker")

    // The old key stays published for its retention (longest TTL + skew) after retiring, then goes.
    let retired = rotatedAt + lead
    #expect(try verifier.verify(oldToken, keys: keys(ring, at: Self.start + 950 * Self.second), now: Self.start + 950 * Self.second).id.count > 0)
    #expect(keys(ring, at: retired + ring.retention - Self.second).keys.contains(old.kid))
    #expect(!keys(ring, at: retired + ring.retention).keys.contains(old.kid))
    ring.prune(now: retired + ring.retention)
    #expect(ring.keys.map(\.kid) == [new.kid])
    #expect(String(decoding: ring.jwks(at: retired + ring.retention), as: UTF8.self).contains("\"kid\":\"\(new.kid)\""))
  }

  @Test func clientSecretsRotateWithOverlapAndDisabledClientsAuthenticateNothing() throws {
    let cheap = Argon2id.Parameters(memoryKiB: 64, iterations: 1, parallelism: 1)
    let (first, firstPHC) = try ServiceClient.newSecret(parameters: cheap)
    #expect(first.count == 46 && first.withUnsafeBytes { $0.starts(with: Array("cs_".utf8)) })
    #expect(!firstPHC.contains(first.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }))
    var client = self.client
    client.secrets = [.init(phc: firstPHC)]
    #expect(client.authenticates(first, now: Self.start))
    #expect(!client.authenticates(SecretBytes(copying: Array("cs_wrong".utf8)), now: Self.start))

    let (second, secondPHC) = try ServiceClient.newSecret(parameters: cheap)
    client.rotateSecret(newPHC: secondPHC, now: Self.start, overlapNanoseconds: 3600 * Self.second)
    #expect(client.authenticates(first, now: Self.start + 3599 * Self.second))
    #expect(!client.authenticates(first, now: Self.start + 3600 * Self.second))
    #expect(client.authenticates(second, now: Self.start + 3600 * Self.second))
    client.disabled = true
    #expect(!client.authenticates(second, now: Self.start))
  }
}
