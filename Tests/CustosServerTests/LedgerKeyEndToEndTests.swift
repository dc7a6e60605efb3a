import CustosCrypto
import CustosLedger
import CustosProtocol
import CustosStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The ledger's checkpoint key lives only sealed under the root key: a sealed daemon records nothing
/// (so decides nothing), and a node's old plain `keys/ledger-signing.key` is sealed into the store and
/// erased at its first unseal.
@Suite struct LedgerKeyEndToEndTests {
  static let passphrase = Data("ledger key passphrase 2291".utf8)

  static func verified(_ log: Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>) async throws -> Bool {
    let result = try await log.verify(.init()) { response in
      try await response.messages.reduce(into: Custos_V1_VerifyResult?.none) { if $1.hasResult { $0 = $1.result } }
    }
    return result?.ok == true
  }

  static func storedKey(_ daemon: DaemonProcess) throws -> StoredLedgerSigningKey? {
    try SQLiteStore(path: daemon.dataDirectory.appendingPathComponent("custos.sqlite").path).ledgerSigningKeyStore.storedSigningKey()
  }

  @Test func aSealedDaemonRecordsAndDecidesNothingUntilUnsealed() async throws {
    let daemon = try await DaemonProcess(sealed: true)
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let operators = Custos_V1_Operator.Client(wrapping: client)
      await KeysEndToEndTests.expectStatus(.unavailable, containing: "sealed") { _ = try await log.append(.with { $0.event = auditEvent(0) }) }
      await KeysEndToEndTests.expectStatus(.unavailable) { _ = try await authz.check(AuthorizationEndToEndTests.refund(cents: 100, hour: 10)) }
      await KeysEndToEndTests.expectStatus(.unavailable, containing: "operator init") { _ = try await log.getVerifierKey(.init()) }
      _ = try await operators.initialize(.with { $0.passphrase = Self.passphrase })
      let verifierKey = try await log.getVerifierKey(.init()).verifierKey
      #expect(try await log.append(.with { $0.event = auditEvent(1) }).receipt.index > 0, "root_init is entry 0")
      #expect(try await authz.check(AuthorizationEndToEndTests.refund(cents: 100, hour: 10)).decision == .allow)
      _ = try await operators.seal(.init())
      await KeysEndToEndTests.expectStatus(.unavailable, containing: "sealed") { _ = try await log.append(.with { $0.event = auditEvent(2) }) }
      await KeysEndToEndTests.expectStatus(.unavailable) { _ = try await authz.check(AuthorizationEndToEndTests.refund(cents: 100, hour: 10)) }
      await KeysEndToEndTests.expectStatus(.permissionDenied) { _ = try await operators.unseal(.with { $0.passphrase = Data("wrong".utf8) }) }
      _ = try await operators.unseal(.with { $0.passphrase = Self.passphrase })
      _ = try await log.append(.with { $0.event = auditEvent(3) })
      #expect(try await log.getVerifierKey(.init()).verifierKey == verifierKey)
      #expect(try await Self.verified(log))
    }
    #expect(!FileManager.default.fileExists(atPath: daemon.keysDirectory.appendingPathComponent("ledger-signing.key").path))
    await daemon.stop()
    // The key is in the store, sealed: its bytes there are not the private key.
    let stored = try #require(try Self.storedKey(daemon))
    #expect(stored.publicKey.count == 32 && stored.sealedPrivateKey.count > 32)
  }

  @Test func aPlainKeyFileIsSealedIntoTheStoreAtTheFirstUnsealAndErased() async throws {
    // A deployment from before: its key in keys/ledger-signing.key.
    let seed = SecretBytes.random(count: 32)
    let plainKey = try Ed25519.PrivateKey(rawRepresentation: seed)
    let older = try await DaemonProcess(sealed: true)
    await older.stop()
    let file = older.keysDirectory.appendingPathComponent("ledger-signing.key")
    try FileManager.default.createDirectory(at: older.keysDirectory, withIntermediateDirectories: true)
    #expect(FileManager.default.createFile(
      atPath: file.path, contents: seed.withUnsafeBytes { Data($0) }, attributes: [.posixPermissions: 0o600]))
    let expected = NoteVerifier(name: "custos.local/ledger", publicKey: plainKey.publicKey).verifierKey

    let upgraded = try await DaemonProcess(reusing: older, sealed: true)
    try await KeysEndToEndTests.withKeyClients(port: upgraded.grpcPort) { _, operators, log in
      // Until the root key is there, the file's key signs as it did before the upgrade.
      _ = try await log.append(.with { $0.event = auditEvent(0) })
      #expect(try await log.getVerifierKey(.init()).verifierKey == expected)
      _ = try await operators.initialize(.with { $0.passphrase = Self.passphrase })
      _ = try await log.append(.with { $0.event = auditEvent(1) })
    }
    await upgraded.stop()
    #expect(!FileManager.default.fileExists(atPath: file.path), "the plain key file is erased once sealed")
    #expect(try Self.storedKey(upgraded)?.publicKey == plainKey.publicKey.rawRepresentation)

    // Restarted sealed, it knows its verifier key from the store but cannot sign until unsealed.
    let restarted = try await DaemonProcess(reusing: upgraded, sealed: true)
    try await KeysEndToEndTests.withKeyClients(port: restarted.grpcPort) { _, operators, log in
      #expect(try await log.getVerifierKey(.init()).verifierKey == expected)
      #expect(try await Self.verified(log))
      await KeysEndToEndTests.expectStatus(.unavailable, containing: "sealed") { _ = try await log.append(.with { $0.event = auditEvent(2) }) }
      _ = try await operators.unseal(.with { $0.passphrase = Self.passphrase })
      _ = try await log.append(.with { $0.event = auditEvent(3) })
      #expect(try await Self.verified(log))
    }
    await restarted.stop()

    // A different plain key file next to the sealed key stops the start rather than being erased.
    let other = Ed25519.PrivateKey()
    #expect(FileManager.default.createFile(
      atPath: file.path, contents: other.rawRepresentation.withUnsafeBytes { Data($0) }, attributes: [.posixPermissions: 0o600]))
    do {
      _ = try await DaemonProcess(reusing: restarted, sealed: true)
      Issue.record("a node started with a key file that is not its sealed ledger key")
    } catch let failure as DaemonFailure {
      #expect(failure.log.contains("holds another key than the ledger signing key sealed in the store"), "\(failure.log)")
    }
    #expect(FileManager.default.fileExists(atPath: file.path))
  }
}
