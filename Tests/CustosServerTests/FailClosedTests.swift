import CustosCrypto
import CustosKeys
import CustosStore
import CustosLedger
import CustosLedgerTestSupport
import CustosProtocol
import Foundation
import GRPCCore
import Logging
import Testing

@testable import CustosServer

@Suite struct FailClosedTests {
  @Test func aDecisionTheLedgerCannotRecordIsUnavailableNeverAllow() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()))
    let policies = try await ActivePolicySet(
      directory: DaemonProcess.packageRoot.appendingPathComponent("policies").path, ledger: ledger, logger: Logger(label: "test"))
    let service = AuthorizationService(policies: policies, ledger: ledger, idempotency: IdempotentCalls(ledger: ledger, window: 60_000_000_000))
    let context = ServerContext(
      descriptor: MethodDescriptor(fullyQualifiedService: "custos.v1.Authorization", method: "Check"), remotePeer: "test",
      localPeer: "test", cancellation: .init())
    let allowed = AuthorizationEndToEndTests.refund(cents: 100, hour: 12)
    #expect(try await service.check(request: allowed, context: context).decision == .allow)

    storage.failAllWrites()
    do {
      let answer = try await service.check(request: allowed, context: context)
      Issue.record("answered \(answer.decision) without recording it")
    } catch let error as RPCError {
      #expect(error.code == .unavailable, "\(error)")
    }
    do {
      _ = try await service.batchCheck(request: .with { $0.requests = [allowed, allowed] }, context: context)
      Issue.record("a batch was answered without being recorded")
    } catch let error as RPCError {
      #expect(error.code == .unavailable)
    }
  }
}

extension FailClosedTests {
  /// A key operation the ledger cannot record is UNAVAILABLE: no plaintext, ciphertext or data key leaves.
  @Test func aKeyOperationTheLedgerCannotRecordReturnsNothing() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()))
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-failclosed-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var options = KeyManager.Options()
    options.passphraseSealing = .init(memoryKiB: 64, iterations: 1, parallelism: 1)
    let keys = try KeyManager(
      storage: try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path).keyStorage,
      rootStore: try SealedRootKeyFiles(directory: directory.appendingPathComponent("keys").path), options: options)
    _ = try keys.initialize(passphrase: SecretBytes(copying: Array("fail closed passphrase".utf8)))
    let policies = try await ActivePolicySet(
      directory: DaemonProcess.packageRoot.appendingPathComponent("policies").path, ledger: ledger, logger: Logger(label: "test"))
    let service = KeysService(
      keys: keys, audit: KeyAudit(ledger: ledger, recordContextValues: false), admin: AdminAuthorization(policies: policies, ledger: ledger),
      idempotency: IdempotentCalls(ledger: ledger, window: 60_000_000_000))
    let context = ServerContext(
      descriptor: MethodDescriptor(fullyQualifiedService: "custos.v1.Keys", method: "Encrypt"), remotePeer: "test",
      localPeer: "test", cancellation: .init())
    _ = try await service.createKeyring(request: .with { $0.name = "k" }, context: context)
    let ciphertext = try await service.encrypt(request: .with { $0.keyring = "k"; $0.plaintext = Data([1, 2, 3]) }, context: context).ciphertext

    storage.failAllWrites()
    let calls: [(String, () async throws -> Void)] = [
      ("Encrypt", { _ = try await service.encrypt(request: .with { $0.keyring = "k"; $0.plaintext = Data([1]) }, context: context) }),
      ("Decrypt", { _ = try await service.decrypt(request: .with { $0.keyring = "k"; $0.ciphertext = ciphertext }, context: context) }),
      ("GenerateDataKey", { _ = try await service.generateDataKey(request: .with { $0.keyring = "k" }, context: context) }),
      ("BatchDecrypt", {
        _ = try await service.batchDecrypt(request: .with { $0.keyring = "k"; $0.items = [.with { $0.ciphertext = ciphertext }] }, context: context)
      }),
    ]
    for (name, call) in calls {
      do {
        try await call()
        Issue.record("\(name) answered without its ledger entry")
      } catch let error as RPCError {
        #expect(error.code == .unavailable, "\(name): \(error)")
      }
    }
  }
}
