import CustosCrypto
import Synchronization
import Testing

@testable import CustosTokens

/// Token storage in memory (each call atomic).
final class InMemoryTokenStorage: TokenStorage {
  struct Contents: Sendable {
    var clients: [String: ServiceClient] = [:]
    var keys: [StoredSigningKey] = []
    var revocations: [Revocation] = []
  }

  let contents = Mutex(Contents())
  struct Refused: Error {}

  func loadClients() throws -> [ServiceClient] { contents.withLock { Array($0.clients.values) } }
  func insertClient(_ client: ServiceClient) throws {
    try contents.withLock {
      guard $0.clients[client.id] == nil else { throw Refused() }
      $0.clients[client.id] = client
    }
  }
  func updateClient(_ client: ServiceClient) throws { contents.withLock { $0.clients[client.id] = client } }
  func loadSigningKeys() throws -> [StoredSigningKey] { contents.withLock { $0.keys } }
  func insertSigningKey(_ key: StoredSigningKey, retiring: [String: Int64]) throws {
    contents.withLock { contents in
      for i in contents.keys.indices { if let at = retiring[contents.keys[i].kid] { contents.keys[i].retiredAt = at } }
      contents.keys.append(key)
    }
  }
  func loadRevocations() throws -> [Revocation] { contents.withLock { $0.revocations } }
  func insertRevocation(_ revocation: Revocation) throws { contents.withLock { $0.revocations.append(revocation) } }
  func prune(revocationsExpiredBy now: Int64, signingKeysRetiredBefore: Int64) throws {
    contents.withLock { contents in
      contents.revocations.removeAll { $0.expiresAt <= now }
      contents.keys.removeAll { ($0.retiredAt ?? .max) <= signingKeysRetiredBefore }
    }
  }
}

/// Seals by XOR with a fixed pad, and can be "sealed" (refuse) like the root key.
final class TestSealer: SigningKeySealer {
  let sealed = Mutex(false)
  struct Sealed: Error {}
  func seal(_ privateKey: [UInt8], kid: String) throws -> [UInt8] {
    guard !sealed.withLock({ $0 }) else { throw Sealed() }
    return privateKey.map { $0 ^ 0x5a }
  }
  func open(_ sealedKey: [UInt8], kid: String) throws -> [UInt8] {
    guard !sealed.withLock({ $0 }) else { throw Sealed() }
    return sealedKey.map { $0 ^ 0x5a }
  }
}

final class TestClock: Sendable {
  private let value = Mutex<Int64>(1_800_000_000_000_000_000)
  func withLock<R>(_ body: (inout Int64) -> R) -> R { value.withLock { body(&$0) } }
}

@Suite struct TokenAuthorityTests {
  let storage = InMemoryTokenStorage()
  let sealer = TestSealer()
  let now = TestClock()

  func authority() throws -> TokenAuthority {
    var options = TokenAuthority.Options()
    options.secretHashing = .init(memoryKiB: 64, iterations: 1, parallelism: 1)
    let now = self.now
    options.clock = { now.withLock { $0 } }
    return try TokenAuthority(storage: storage, sealer: sealer, options: options)
  }

  @Test func credentialsBecomeTokensAndRevocationSurvivesRestarts() throws {
    let authority = try authority()
    let (client, secret) = try authority.createClient(id: "crm-sync", displayName: "", roles: ["Role::\"crm\""], audiences: ["custos"], tokenTTLSeconds: nil)
    #expect(client.tokenTTLSeconds == 900)
    #expect(throws: TokenError.invalidClient) { try authority.issue(clientID: "crm-sync", secret: SecretBytes(copying: [1]), audience: "custos", scope: "") }
    #expect(throws: TokenError.invalidClient) { try authority.issue(clientID: "nobody", secret: secret, audience: "custos", scope: "") }
    let (token, claims) = try authority.issue(clientID: "crm-sync", secret: secret, audience: "custos", scope: "")
    #expect(storage.contents.withLock { $0.keys.count } == 1, "the first signing key is made on first use, sealed")
    #expect(try authority.verify(token) == claims)
    #expect(String(decoding: authority.jwks(), as: UTF8.self).contains(try JWS.parse(token).keyID!))

    try authority.revoke(.token(jti: claims.id))
    #expect(throws: TokenError.revoked) { try authority.verify(token) }
    // A restart reloads the revocation.
    #expect(throws: TokenError.revoked) { try self.authority().verify(token) }

    // Revoking a client ends tokens issued before, not after.
    let (second, _) = try authority.issue(clientID: "crm-sync", secret: secret, audience: "custos", scope: "")
    now.withLock { $0 += 2_000_000_000 }
    try authority.revoke(.client(id: "crm-sync"))
    #expect(throws: TokenError.revoked) { try authority.verify(second) }
    now.withLock { $0 += 2_000_000_000 }
    let (third, _) = try authority.issue(clientID: "crm-sync", secret: secret, audience: "custos", scope: "")
    #expect(try authority.verify(third).clientID == "crm-sync")

    // Disabling refuses new tokens and revokes current ones.
    _ = try authority.disable(clientID: "crm-sync")
    #expect(throws: TokenError.revoked) { try authority.verify(third) }
    #expect(throws: TokenError.invalidClient) { try authority.issue(clientID: "crm-sync", secret: secret, audience: "custos", scope: "") }
  }

  @Test func issuanceNeedsTheSealerAndRefusesBadClients() throws {
    let authority = try authority()
    let (_, secret) = try authority.createClient(id: "deploy-bot", displayName: "", roles: [], audiences: ["custos"], tokenTTLSeconds: 60)
    sealer.sealed.withLock { $0 = true }
    #expect(throws: TokenError.self) { try authority.issue(clientID: "deploy-bot", secret: secret, audience: "custos", scope: "") }
    sealer.sealed.withLock { $0 = false }
    _ = try authority.issue(clientID: "deploy-bot", secret: secret, audience: "custos", scope: "")
    for bad in ["", "Upper", "-x", String(repeating: "a", count: 65)] {
      #expect(throws: TokenError.self) { try authority.createClient(id: bad, displayName: "", roles: [], audiences: ["custos"], tokenTTLSeconds: nil) }
    }
    #expect(throws: TokenError.self) { try authority.createClient(id: "no-audience", displayName: "", roles: [], audiences: [], tokenTTLSeconds: nil) }
    #expect(throws: TokenError.self) { try authority.createClient(id: "long", displayName: "", roles: [], audiences: ["custos"], tokenTTLSeconds: 86_401) }
    #expect(throws: TokenError.self) { try authority.createClient(id: "deploy-bot", displayName: "", roles: [], audiences: ["custos"], tokenTTLSeconds: nil) }
  }

  @Test func signingKeyRotationKeepsOldTokensValid() throws {
    let authority = try authority()
    let (_, secret) = try authority.createClient(id: "erp", displayName: "", roles: [], audiences: ["custos"], tokenTTLSeconds: nil)
    let (old, _) = try authority.issue(clientID: "erp", secret: secret, audience: "custos", scope: "")
    let jwks = String(decoding: try authority.rotateSigningKey(), as: UTF8.self)
    #expect(storage.contents.withLock { $0.keys.count } == 2)
    let newKid = storage.contents.withLock { $0.keys[1].kid }
    #expect(jwks.contains(newKid), "published before it signs")
    let (stillOld, _) = try authority.issue(clientID: "erp", secret: secret, audience: "custos", scope: "")
    #expect(try JWS.parse(stillOld).keyID != newKid, "the new key signs only after the lead time")
    now.withLock { $0 += 3600 * 1_000_000_000 }
    let (fresh, _) = try authority.issue(clientID: "erp", secret: secret, audience: "custos", scope: "")
    #expect(try JWS.parse(fresh).keyID == newKid)
    now.withLock { $0 -= 3000 * 1_000_000_000 }  // back inside the old token's lifetime
    #expect(try authority.verify(old).clientID == "erp")
  }
}
