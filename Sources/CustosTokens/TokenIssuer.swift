import CustosCrypto
import CustosJSON

/// Signs access tokens: JWS compact, header `{"alg":"EdDSA","kid":...,"typ":"at+jwt"}`.
public struct TokenIssuer: Sendable {
  public let issuer: String

  public init(issuer: String) { self.issuer = issuer }

  /// A signed token for `client` with `audience`, valid from `now` for `ttlSeconds`.
  public func issue(
    client: ServiceClient, audience: String, scope: String, ttlSeconds: Int64, now: Int64, key: SigningKey
  ) throws(TokenError) -> (token: String, claims: AccessTokenClaims) {
    guard client.audiences.contains(audience) else {
      throw .invalidArgument("audience \"\(audience.prefix(200))\" is not allowed for client \(client.id)")
    }
    guard (1...86_400).contains(ttlSeconds) else { throw .invalidArgument("token TTL must be 1 s to 24 h") }
    let seconds = now / 1_000_000_000
    let claims = AccessTokenClaims(
      issuer: issuer, subject: client.id, audience: audience, expiresAt: seconds + ttlSeconds, issuedAt: seconds,
      notBefore: seconds, id: Base64.encodeURL(SecureRandom.bytes(16)), clientID: client.id, roles: client.roles, scope: scope)
    guard let privateKey = key.privateKey else { throw .invalidArgument("signing key \(key.kid) is not loaded") }
    let header = CanonicalJSON.encode(.object(["alg": .string("EdDSA"), "kid": .string(key.kid), "typ": .string("at+jwt")]))
    return (JWS.sign(header: header, payload: CanonicalJSON.encode(claims.json), key: privateKey), claims)
  }
}

/// Checks access tokens against the published keys: algorithm, key, signature, issuer, audience, time
/// (with clock skew) and revocation, in that order, and says which failed.
public struct TokenVerifier: Sendable {
  public let issuer: String
  public let audience: String
  /// Allowed clock skew in seconds.
  public let skewSeconds: Int64

  public init(issuer: String, audience: String, skewSeconds: Int64 = 60) {
    self.issuer = issuer
    self.audience = audience
    self.skewSeconds = skewSeconds
  }

  /// The token's claims if it verifies; `isRevoked` is asked last, for a token that is otherwise valid.
  public func verify(
    _ token: String, keys: [String: Ed25519.PublicKey], now: Int64, isRevoked: (AccessTokenClaims) -> Bool = { _ in false }
  ) throws(TokenError) -> AccessTokenClaims {
    let parts = try JWS.parse(token)
    guard parts.algorithm == "EdDSA" else { throw .unsupportedAlgorithm(parts.algorithm) }
    guard let kid = parts.keyID else { throw .malformed("header has no kid") }
    guard let key = keys[kid] else { throw .unknownKey(kid) }
    guard key.isValidSignature(parts.signature, for: parts.signingInput) else { throw .badSignature }
    if let typ = parts.header["typ"]?.stringValue, typ.lowercased() != "at+jwt" && typ.lowercased() != "application/at+jwt" {
      throw .malformed("typ is not at+jwt")
    }
    let claims = try AccessTokenClaims(json: parts.payload)
    guard claims.issuer == issuer else { throw .wrongIssuer(issuer) }
    guard claims.audience == audience else { throw .wrongAudience(audience) }
    let seconds = now / 1_000_000_000
    guard claims.expiresAt + skewSeconds > seconds else { throw .expired }
    guard claims.notBefore - skewSeconds <= seconds else { throw .notYetValid }
    guard !isRevoked(claims) else { throw .revoked }
    return claims
  }
}
