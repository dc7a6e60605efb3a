import CustosTokens
import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// Token storage on each store.
@Suite struct TokenStorageTests {
  @Test(arguments: StoreKind.allCases) func clientsKeysAndRevocationsRoundTrip(_ kind: StoreKind) throws {
    let storage = try KeyStorageTests.store(kind).tokenStorage
    var client = ServiceClient(
      id: "crm-sync", displayName: "CRM \"sync\"", roles: ["Role::\"crm\""], audiences: ["custos", "erp"], tokenTTLSeconds: 600,
      secrets: [.init(phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", expiresAt: nil)])
    try storage.insertClient(client)
    #expect(throws: (any Error).self) { try storage.insertClient(client) }
    #expect(try storage.loadClients() == [client])
    client.rotateSecret(newPHC: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI", now: 10, overlapNanoseconds: 5)
    client.disabled = true
    try storage.updateClient(client)
    #expect(try storage.loadClients() == [client])
    #expect(try storage.loadClients()[0].secrets.map(\.expiresAt) == [15, nil])

    let first = StoredSigningKey(kid: "k1", publicKey: [1, 2], sealedPrivateKey: [3], publishedAt: 1, activatesAt: 1, retiredAt: nil)
    let second = StoredSigningKey(kid: "k2", publicKey: [4], sealedPrivateKey: [5], publishedAt: 50, activatesAt: 100, retiredAt: nil)
    try storage.insertSigningKey(first, retiring: [:])
    try storage.insertSigningKey(second, retiring: ["k1": 100])
    var retired = first
    retired.retiredAt = 100
    #expect(try storage.loadSigningKeys() == [retired, second])

    let token = Revocation(target: .token(jti: "j1"), revokedAt: 5, expiresAt: 50)
    let whole = Revocation(target: .client(id: "crm-sync"), revokedAt: 6, expiresAt: 500)
    try storage.insertRevocation(token)
    try storage.insertRevocation(whole)
    #expect(Set(try storage.loadRevocations()) == [token, whole])
    try storage.prune(revocationsExpiredBy: 50, signingKeysRetiredBefore: 100)
    #expect(try storage.loadRevocations() == [whole])
    #expect(try storage.loadSigningKeys().map(\.kid) == ["k2"])
  }
}
