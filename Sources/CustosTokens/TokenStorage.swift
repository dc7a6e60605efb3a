/// A signing key as stored: the public key in plain, the private key sealed (by the root key).
public struct StoredSigningKey: Sendable, Equatable, Codable {
  public var kid: String
  public var publicKey: [UInt8]
  public var sealedPrivateKey: [UInt8]
  public var publishedAt: Int64
  public var activatesAt: Int64
  public var retiredAt: Int64?

  public init(kid: String, publicKey: [UInt8], sealedPrivateKey: [UInt8], publishedAt: Int64, activatesAt: Int64, retiredAt: Int64?) {
    self.kid = kid
    self.publicKey = publicKey
    self.sealedPrivateKey = sealedPrivateKey
    self.publishedAt = publishedAt
    self.activatesAt = activatesAt
    self.retiredAt = retiredAt
  }
}

/// A revocation: one token, or every token a client was issued up to `revokedAt`.
public struct Revocation: Sendable, Equatable, Hashable, Codable {
  public enum Target: Sendable, Equatable, Hashable, Codable {
    case token(jti: String)
    case client(id: String)
  }

  public var target: Target
  /// Nanoseconds since the epoch.
  public var revokedAt: Int64
  /// After this no token it covers can be valid anyway: the record may be pruned.
  public var expiresAt: Int64

  public init(target: Target, revokedAt: Int64, expiresAt: Int64) {
    self.target = target
    self.revokedAt = revokedAt
    self.expiresAt = expiresAt
  }
}

/// What the token authority needs from a database; each call is atomic.
public protocol TokenStorage: Sendable {
  func loadClients() throws -> [ServiceClient]
  /// Fails if the id exists.
  func insertClient(_ client: ServiceClient) throws
  func updateClient(_ client: ServiceClient) throws
  func loadSigningKeys() throws -> [StoredSigningKey]
  /// Inserts `key` and sets `retiredAt` on the keys named in `retiring`, in one transaction.
  func insertSigningKey(_ key: StoredSigningKey, retiring: [String: Int64]) throws
  func loadRevocations() throws -> [Revocation]
  func insertRevocation(_ revocation: Revocation) throws
  /// Deletes revocations and signing keys that can no longer matter at `now`.
  func prune(revocationsExpiredBy now: Int64, signingKeysRetiredBefore: Int64) throws
}

/// Seals and opens signing private keys (the server backs it with the root key); throws while sealed.
public protocol SigningKeySealer: Sendable {
  func seal(_ privateKey: [UInt8], kid: String) throws -> [UInt8]
  func open(_ sealed: [UInt8], kid: String) throws -> [UInt8]
}
