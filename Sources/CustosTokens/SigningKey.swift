import CustosCrypto
import CustosJSON

/// One Ed25519 token-signing key and when it is published, used and retired.
public struct SigningKey: Sendable {
  public let publicKey: Ed25519.PublicKey
  /// The private half, when it is loaded (it is stored sealed under the root key).
  public var privateKey: Ed25519.PrivateKey?
  /// RFC 7638 JWK thumbprint of the public key.
  public let kid: String
  /// Published in the JWKS from this time (nanoseconds since the epoch).
  public let publishedAt: Int64
  /// Signs new tokens from this time (publication plus the lead time, so verifiers that cached the
  /// JWKS already know it).
  public let activatesAt: Int64
  /// Stopped signing at this time (nil while current).
  public var retiredAt: Int64?

  public init(key: Ed25519.PrivateKey, publishedAt: Int64, activatesAt: Int64, retiredAt: Int64? = nil) {
    self.init(publicKey: key.publicKey, privateKey: key, publishedAt: publishedAt, activatesAt: activatesAt, retiredAt: retiredAt)
  }

  public init(publicKey: Ed25519.PublicKey, privateKey: Ed25519.PrivateKey?, publishedAt: Int64, activatesAt: Int64, retiredAt: Int64?) {
    self.publicKey = publicKey
    self.privateKey = privateKey
    self.kid = SigningKey.thumbprint(publicKey)
    self.publishedAt = publishedAt
    self.activatesAt = activatesAt
    self.retiredAt = retiredAt
  }

  /// RFC 7638: base64url SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":"..."}`.
  public static func thumbprint(_ publicKey: Ed25519.PublicKey) -> String {
    let members = CanonicalJSON.encode(.object([
      "crv": .string("Ed25519"), "kty": .string("OKP"), "x": .string(Base64.encodeURL(publicKey.rawRepresentation)),
    ]))
    return Base64.encodeURL(SHA256.hash(members).withUnsafeBytes { Array($0) })
  }

  /// The public JWK (RFC 8037).
  public var publicJWK: JSONValue {
    .object([
      "kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string(Base64.encodeURL(publicKey.rawRepresentation)),
      "kid": .string(kid), "use": .string("sig"), "alg": .string("EdDSA"),
    ])
  }
}

/// The issuer's signing keys over time: which signs now, which are published.
///
/// Rotation publishes the next key before it signs (the lead time) and keeps a retired key published for
/// the longest token lifetime plus the allowed clock skew, so every token in circulation verifies
/// against a JWKS fetched at any moment of its life.
public struct SigningKeyRing: Sendable {
  public private(set) var keys: [SigningKey]
  /// How long a retired key stays published: the longest token TTL plus clock skew.
  public var retention: Int64

  public init(keys: [SigningKey], retention: Int64) {
    self.keys = keys.sorted { $0.activatesAt < $1.activatesAt }
    self.retention = retention
  }

  /// The key that signs at `now`: the newest active one.
  public func signer(at now: Int64) -> SigningKey? {
    keys.last { $0.activatesAt <= now && $0.retiredAt.map { $0 > now } ?? true }
  }

  /// Keys a verifier must know at `now`: published and not past retention.
  public func published(at now: Int64) -> [SigningKey] {
    keys.filter { $0.publishedAt <= now && ($0.retiredAt.map { $0 + retention > now } ?? true) }
  }

  /// Adds a new key published at `now` that takes over at `now + leadTime`; the current signer retires
  /// then. Returns the new key.
  @discardableResult
  public mutating func rotate(now: Int64, leadTime: Int64, key: Ed25519.PrivateKey = Ed25519.PrivateKey()) -> SigningKey {
    let next = SigningKey(key: key, publishedAt: now, activatesAt: now + leadTime)
    for i in keys.indices where keys[i].retiredAt == nil { keys[i].retiredAt = next.activatesAt }
    keys.append(next)
    return next
  }

  /// Installs the loaded private half of key `kid`.
  public mutating func setPrivateKey(_ key: Ed25519.PrivateKey, kid: String) {
    if let i = keys.firstIndex(where: { $0.kid == kid }) { keys[i].privateKey = key }
  }

  /// Forgets every private half (the root key was sealed).
  public mutating func dropPrivateKeys() {
    for i in keys.indices { keys[i].privateKey = nil }
  }

  /// Drops keys past retention (no token they signed can still be valid).
  public mutating func prune(now: Int64) {
    keys.removeAll { $0.retiredAt.map { $0 + retention <= now } ?? false }
  }

  /// The JWKS document (RFC 7517) of the keys published at `now`.
  public func jwks(at now: Int64) -> [UInt8] {
    CanonicalJSON.encode(.object(["keys": .array(published(at: now).map(\.publicJWK))]))
  }
}
