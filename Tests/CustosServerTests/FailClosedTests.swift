import CustosCrypto
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
    let service = AuthorizationService(policies: policies, ledger: ledger)
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
