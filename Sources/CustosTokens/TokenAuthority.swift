import CustosCrypto
import CustosJSON
import Synchronization
#if canImport(Glibc)
  import Glibc
#endif

/// Clients, signing keys, issuance, verification and revocation, with their state in memory and every
/// change written to storage first.
///
/// Verification is the hot path of every authenticated call: a verified token is cached until it
/// expires, and the in-memory revocation sets are consulted on every call, so a revocation wins at once.
public final class TokenAuthority: Sendable {
  public struct Options: Sendable {
    /// The `iss` claim.
    public var issuer = "custos"
    /// The audience Custos's own RPCs require.
    public var audience = "custos"
    public var skewSeconds: Int64 = 60
    public var defaultTokenTTLSeconds: Int64 = 900
    /// The longest TTL a client may be given (and so how long a retired key stays published).
    public var maximumTokenTTLSeconds: Int64 = 86_400
    /// How long a new signing key is published before it signs.
    public var signingKeyLeadSeconds: Int64 = 3600
    public var secretHashing = Argon2id.Parameters.owaspMinimum
    public var defaultSecretOverlapSeconds: Int64 = 86_400
    public var clock: @Sendable () -> Int64 = { TokenAuthority.wallClock() }

    public init() {}
  }

  struct State: Sendable {
    var clients: [String: ServiceClient]
    var ring: SigningKeyRing
    var sealedPrivateKeys: [String: [UInt8]]
    var revokedTokens: [String: Int64]
    var revokedClients: [String: Int64]
    var verified: [String: AccessTokenClaims]
  }

  let storage: any TokenStorage
  let sealer: any SigningKeySealer
  public let options: Options
  let state: Mutex<State>
  /// Serializes changes (storage first, then memory).
  let changes = Mutex<Void>(())
  /// A hash of a random secret no client has, made on first use (see `spendTheCostOfACheck`).
  private let decoy = Mutex<String?>(nil)
  static let verifiedCacheLimit = 100_000

  public init(storage: any TokenStorage, sealer: any SigningKeySealer, options: Options = Options()) throws {
    self.storage = storage
    self.sealer = sealer
    self.options = options
    state = Mutex(try Self.load(from: storage, options: options, keeping: nil))
  }

  /// Re-reads clients, signing keys and revocations from storage — another node sharing the database
  /// changed them — keeping the signing private keys this node already opened, and forgets every cached
  /// verification, so a revocation or a disabled client is in force from the next call.
  public func reload() throws {
    try changes.withLock { _ in
      let current = state.withLock { $0 }
      let loaded = try Self.load(from: storage, options: options, keeping: current)
      state.withLock { $0 = loaded }
    }
  }

  private static func load(from storage: any TokenStorage, options: Options, keeping previous: State?) throws -> State {
    let clients = try storage.loadClients()
    var keys: [SigningKey] = []
    var sealed: [String: [UInt8]] = [:]
    for stored in try storage.loadSigningKeys() {
      let publicKey = try Ed25519.PublicKey(rawRepresentation: stored.publicKey)
      let opened = previous?.ring.keys.first { $0.kid == SigningKey.thumbprint(publicKey) }?.privateKey
      keys.append(SigningKey(publicKey: publicKey, privateKey: opened, publishedAt: stored.publishedAt, activatesAt: stored.activatesAt, retiredAt: stored.retiredAt))
      sealed[stored.kid] = stored.sealedPrivateKey
    }
    var revokedTokens: [String: Int64] = [:]
    var revokedClients: [String: Int64] = [:]
    for revocation in try storage.loadRevocations() {
      switch revocation.target {
      case let .token(jti): revokedTokens[jti] = revocation.expiresAt
      case let .client(id): revokedClients[id] = max(revokedClients[id] ?? 0, revocation.revokedAt)
      }
    }
    return State(
      clients: Dictionary(uniqueKeysWithValues: clients.map { ($0.id, $0) }),
      ring: SigningKeyRing(keys: keys, retention: (options.maximumTokenTTLSeconds + options.skewSeconds) * 1_000_000_000),
      sealedPrivateKeys: sealed, revokedTokens: revokedTokens, revokedClients: revokedClients, verified: [:])
  }

  // MARK: Clients

  /// Registers a client; returns it and its secret, shown once. Blocks for the Argon2id cost.
  public func createClient(
    id: String, displayName: String, roles: [String], audiences: [String], tokenTTLSeconds: Int64?
  ) throws(TokenError) -> (client: ServiceClient, secret: SecretBytes) {
    try Self.checkClientID(id)
    let ttl = tokenTTLSeconds ?? options.defaultTokenTTLSeconds
    guard (1...options.maximumTokenTTLSeconds).contains(ttl) else {
      throw .invalidArgument("token_ttl_seconds: must be between 1 and \(options.maximumTokenTTLSeconds), got \(ttl)")
    }
    guard !audiences.isEmpty, audiences.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
      throw .invalidArgument("audiences: at least one, each 1-256 bytes")
    }
    guard displayName.utf8.count <= 256 else { throw .invalidArgument("display_name: at most 256 bytes") }
    let (secret, phc) = try ServiceClient.newSecret(parameters: options.secretHashing)
    let client = ServiceClient(
      id: id, displayName: displayName, roles: roles, audiences: audiences, tokenTTLSeconds: ttl, secrets: [.init(phc: phc)])
    try changes.withLock { _ throws(TokenError) in
      guard state.withLock({ $0.clients[id] }) == nil else { throw TokenError.invalidArgument("client \"\(id)\" already exists") }
      try Self.store("create the client") { try storage.insertClient(client) }
      state.withLock { $0.clients[id] = client }
    }
    return (client, secret)
  }

  public func clients() -> [ServiceClient] {
    state.withLock { $0.clients.values.sorted { $0.id < $1.id } }
  }

  public func client(_ id: String) -> ServiceClient? { state.withLock { $0.clients[id] } }

  /// A new secret, shown once; the previous one works for `overlapSeconds` more.
  public func rotateSecret(clientID: String, overlapSeconds: Int64?) throws(TokenError) -> (client: ServiceClient, secret: SecretBytes) {
    let overlap = overlapSeconds ?? options.defaultSecretOverlapSeconds
    guard (0...(30 * 86_400)).contains(overlap) else { throw .invalidArgument("overlap_seconds: between 0 and 30 days") }
    let (secret, phc) = try ServiceClient.newSecret(parameters: options.secretHashing)
    let client = try change(clientID) { client in
      client.rotateSecret(newPHC: phc, now: options.clock(), overlapNanoseconds: overlap * 1_000_000_000)
    }
    return (client, secret)
  }

  /// Disables a client: no new tokens, and (with `revokeClient`) none of its current ones.
  public func disable(clientID: String) throws(TokenError) -> ServiceClient {
    let client = try change(clientID) { $0.disabled = true }
    try revoke(.client(id: clientID))
    return client
  }

  private func change(_ id: String, _ body: (inout ServiceClient) -> Void) throws(TokenError) -> ServiceClient {
    try changes.withLock { _ throws(TokenError) -> ServiceClient in
      guard var client = state.withLock({ $0.clients[id] }) else { throw TokenError.invalidArgument("client \"\(id)\" does not exist") }
      body(&client)
      let updated = client
      try Self.store("update the client") { try storage.updateClient(updated) }
      state.withLock { $0.clients[id] = updated }
      return updated
    }
  }

  // MARK: Tokens

  /// Client credentials → a signed token (OAuth 2.0 client-credentials grant). Blocks for Argon2id.
  public func issue(clientID: String, secret: SecretBytes, audience: String, scope: String) throws(TokenError) -> (token: String, claims: AccessTokenClaims) {
    let now = options.clock()
    guard let client = state.withLock({ $0.clients[clientID] }) else {
      spendTheCostOfACheck(secret)
      throw .invalidClient
    }
    guard client.authenticates(secret, now: now) else { throw .invalidClient }
    return try sign(for: client, audience: audience, scope: scope, now: now)
  }

  /// An unknown client id costs the same Argon2id work as a known one's wrong secret, so the answer's
  /// timing does not tell which client ids exist.
  private func spendTheCostOfACheck(_ secret: SecretBytes) {
    let phc = decoy.withLock { decoy in
      if let decoy { return decoy }
      let (_, phc) = (try? ServiceClient.newSecret(parameters: options.secretHashing)) ?? (SecretBytes(copying: []), "")
      decoy = phc
      return phc
    }
    _ = try? secret.withUnsafeBytes { try Argon2id.verifyPassword($0, phcString: phc) }
  }

  /// Signs a token for an already authenticated client (the measured part of issuance).
  public func sign(for client: ServiceClient, audience: String, scope: String, now: Int64) throws(TokenError) -> (token: String, claims: AccessTokenClaims) {
    let key = try currentSigningKey(now: now)
    return try TokenIssuer(issuer: options.issuer).issue(
      client: client, audience: audience, scope: scope, ttlSeconds: client.tokenTTLSeconds, now: now, key: key)
  }

  /// The key that signs now, with its private half loaded (the first key is made on first use).
  func currentSigningKey(now: Int64) throws(TokenError) -> SigningKey {
    if let key = state.withLock({ $0.ring.signer(at: now) }), key.privateKey != nil { return key }
    return try changes.withLock { _ throws(TokenError) -> SigningKey in
      if state.withLock({ $0.ring.signer(at: now) }) == nil { _ = try addSigningKey(now: now, leadTime: 0) }
      guard var key = state.withLock({ $0.ring.signer(at: now) }) else { throw TokenError.invalidArgument("no signing key") }
      if key.privateKey == nil {
        guard let sealed = state.withLock({ $0.sealedPrivateKeys[key.kid] }) else { throw TokenError.invalidArgument("signing key \(key.kid) is missing") }
        var raw: [UInt8]
        do { raw = try sealer.open(sealed, kid: key.kid) } catch { throw TokenError.invalidArgument("cannot load the signing key: \(error)") }
        defer { SecretBytes.wipe(&raw) }
        do { key.privateKey = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: raw)) } catch {
          throw TokenError.invalidArgument("the stored signing key is invalid")
        }
        let loaded = key
        state.withLock { $0.ring.setPrivateKey(loaded.privateKey!, kid: loaded.kid) }
      }
      return key
    }
  }

  /// Publishes a new signing key now that signs after the lead time. Returns the JWKS.
  public func rotateSigningKey() throws(TokenError) -> [UInt8] {
    try changes.withLock { _ throws(TokenError) in
      _ = try addSigningKey(now: options.clock(), leadTime: options.signingKeyLeadSeconds * 1_000_000_000)
    }
    return jwks()
  }

  /// Must hold `changes`.
  private func addSigningKey(now: Int64, leadTime: Int64) throws(TokenError) -> SigningKey {
    let privateKey = Ed25519.PrivateKey()
    var ring = state.withLock { $0.ring }
    let retiring = Dictionary(uniqueKeysWithValues: ring.keys.filter { $0.retiredAt == nil }.map { ($0.kid, now + leadTime) })
    let key = ring.rotate(now: now, leadTime: leadTime, key: privateKey)
    let sealed: [UInt8]
    do { sealed = try privateKey.rawRepresentation.withUnsafeBytes { try sealer.seal(Array($0), kid: key.kid) } } catch {
      throw .invalidArgument("cannot seal a new signing key: \(error)")
    }
    let stored = StoredSigningKey(
      kid: key.kid, publicKey: key.publicKey.rawRepresentation, sealedPrivateKey: sealed, publishedAt: key.publishedAt,
      activatesAt: key.activatesAt, retiredAt: nil)
    try Self.store("store the signing key") { try storage.insertSigningKey(stored, retiring: retiring) }
    let finalRing = ring
    state.withLock {
      $0.ring = finalRing
      $0.sealedPrivateKeys[key.kid] = sealed
    }
    return key
  }

  /// Forgets the loaded signing private keys (the root key was sealed).
  public func dropPrivateKeys() { state.withLock { $0.ring.dropPrivateKeys() } }

  /// The published keys (RFC 7517 JSON).
  public func jwks() -> [UInt8] {
    let now = options.clock()
    return state.withLock { $0.ring.jwks(at: now) }
  }

  /// The caller behind a bearer token, or why it is refused. Cached until expiry; revocation always wins.
  public func verify(_ token: String) throws(TokenError) -> AccessTokenClaims {
    let now = options.clock()
    if let cached = state.withLock({ $0.verified[token] }) {
      guard cached.expiresAt + options.skewSeconds > now / 1_000_000_000 else { throw .expired }
      guard !isRevoked(cached) else { throw .revoked }
      return cached
    }
    let keys = state.withLock { state in
      Dictionary(uniqueKeysWithValues: state.ring.published(at: now).map { ($0.kid, $0.publicKey) })
    }
    let claims = try TokenVerifier(issuer: options.issuer, audience: options.audience, skewSeconds: options.skewSeconds)
      .verify(token, keys: keys, now: now, isRevoked: isRevoked)
    state.withLock { state in
      if state.verified.count >= Self.verifiedCacheLimit { state.verified.removeAll() }
      state.verified[token] = claims
    }
    return claims
  }

  func isRevoked(_ claims: AccessTokenClaims) -> Bool {
    state.withLock { state in
      if state.revokedTokens[claims.id] != nil { return true }
      if let at = state.revokedClients[claims.clientID], claims.issuedAt * 1_000_000_000 <= at { return true }
      if state.clients[claims.clientID]?.disabled ?? true { return true }
      return false
    }
  }

  /// RFC 7662: the claims when active, else why not.
  public func introspect(_ token: String) -> (claims: AccessTokenClaims?, reason: String) {
    do { return (try verify(token), "") } catch { return (nil, error.description) }
  }

  /// Revokes one token or every token of a client issued so far; persisted, effective at once.
  public func revoke(_ target: Revocation.Target) throws(TokenError) {
    let now = options.clock()
    let horizon = now + (options.maximumTokenTTLSeconds + options.skewSeconds) * 1_000_000_000
    let revocation = Revocation(target: target, revokedAt: now, expiresAt: horizon)
    try Self.store("store the revocation") { try storage.insertRevocation(revocation) }
    state.withLock { state in
      switch target {
      case let .token(jti): state.revokedTokens[jti] = horizon
      case let .client(id): state.revokedClients[id] = now
      }
    }
  }

  /// Drops revocations and retired keys that can no longer matter.
  public func prune() throws(TokenError) {
    let now = options.clock()
    let retention = (options.maximumTokenTTLSeconds + options.skewSeconds) * 1_000_000_000
    try Self.store("prune") { try storage.prune(revocationsExpiredBy: now, signingKeysRetiredBefore: now - retention) }
    state.withLock { state in
      state.revokedTokens = state.revokedTokens.filter { $0.value > now }
      state.revokedClients = state.revokedClients.filter { $0.value + retention > now }
      state.ring.prune(now: now)
      state.verified = state.verified.filter { $0.value.expiresAt + options.skewSeconds > now / 1_000_000_000 }
    }
  }

  // MARK: Helpers

  static func store(_ what: String, _ body: () throws -> Void) throws(TokenError) {
    do { try body() } catch let error as TokenError { throw error } catch {
      throw .invalidArgument("cannot \(what): \(error)")
    }
  }

  /// Client ids: 1–64 characters of `[a-z0-9._-]`, starting with a letter or digit.
  static func checkClientID(_ id: String) throws(TokenError) {
    let bytes = Array(id.utf8)
    func allowed(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f || c == 0x2d }
    guard (1...64).contains(bytes.count), bytes.allSatisfy(allowed), (bytes[0] >= 0x61 && bytes[0] <= 0x7a) || (bytes[0] >= 0x30 && bytes[0] <= 0x39) else {
      throw .invalidArgument("client_id: must be 1-64 characters of [a-z0-9._-] starting with a letter or digit, got \"\(id.prefix(80))\"")
    }
  }

  public static func wallClock() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
  }
}
