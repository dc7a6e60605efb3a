import CustosCrypto
import Dispatch
import Synchronization
import CustosLedgerTestSupport
import Testing

@testable import CustosLedger

@Suite struct LedgerAppenderTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  func event(_ i: Int) -> LedgerEvent {
    LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "r\(i)", outcome: "ok")
  }

  @Test func aFailedWriteFailsOnlyItsCallersAndTheBatchPreparedOnItIsRetried() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: signer)
    _ = try await ledger.append([event(0)])
    storage.failNextWrite(afterMilliseconds: 50)
    let failing = Task { try await ledger.append([event(1), event(2)]) }
    try await Task.sleep(for: .milliseconds(10))  // the failing write is in flight now
    let second = Task { try await ledger.append([event(3)]) }
    let third = Task { try await ledger.append([event(4)]) }
    let failed = await failing.result
    #expect(throws: LedgerError.self) { _ = try failed.get() }
    let receipts = try await second.value + third.value
    #expect(Set(receipts.map(\.index)) == [1, 2], "the retried batch continues right after the last durable entry")
    #expect(await ledger.size == 3)
    let report = try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
    #expect(report.ok && report.checked == 3)
  }

  @Test func concurrentAppendsAreGroupCommittedAndStayInOrder() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: signer)
    let receipts = try await withThrowingTaskGroup(of: [LedgerReceipt].self) { group in
      for i in 0..<200 { group.addTask { try await ledger.append([self.event(i)]) } }
      return try await group.reduce(into: []) { $0 += $1 }
    }
    #expect(Set(receipts.map(\.index)) == Set(0..<200))
    #expect(storage.writes < 200, "appends that arrive together share a commit")
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
  }
}
