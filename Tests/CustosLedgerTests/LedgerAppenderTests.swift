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

  /// A ledger whose head is stale: another writer sharing its store appended after it did.
  func ledgerBehindAnotherWriter(_ storage: InMemoryLedgerStorage) async throws -> Ledger {
    let behind = try Ledger(storage: storage, signer: signer)
    _ = try await behind.append([event(0)])
    _ = try await Ledger(storage: storage, signer: signer).append([event(1)])
    return behind
  }

  static func waitUntil(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(2)) }
  }

  func claim(_ key: String) -> IdempotencyClaim {
    IdempotencyClaim(
      key: IdempotencyKey(caller: "svc", key: key), fingerprint: SHA256.hash(Array(key.utf8)), response: [], expiresAt: .max)
  }

  @Test func aBatchRebuiltOnAnotherWritersAppendsTakesInWhatArrivedMeanwhile() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try await ledgerBehindAnotherWriter(storage)
    storage.holdNextWrite()
    let writes = storage.writes
    let first = Task { try await ledger.append([self.event(2)]) }
    try await Self.waitUntil { storage.writes > writes }  // its write is in flight, not built yet
    let arrived = (3..<8).map { i in Task { try await ledger.append([self.event(i)]) } }
    // With an idempotency key it waits for a batch of its own: the rebuilt one read no record for it.
    let keyed = Task { try await ledger.append([event(8)], claim: claim("k1")) }
    try await Self.waitUntil { ledger.waitingAppendCount == 6 }
    storage.releaseHeldWrite()
    var receipts = try await first.value
    for task in arrived { receipts += try await task.value }
    #expect(Set(receipts.map(\.index)) == Set(2..<8))
    guard case let .recorded(keyedReceipts) = try await keyed.value else { Issue.record("the keyed append was not recorded"); return }
    #expect(keyedReceipts.map(\.index) == [8])
    // One batch, one checkpoint: the held append and the five that arrived meanwhile, then the keyed one.
    #expect(try storage.checkpoints(sizes: 3...9).map(\.checkpoint.size) == [8, 9])
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
  }

  @Test func aRebuiltBatchThatFailsFailsEveryAppendItTookIn() async throws {
    let storage = InMemoryLedgerStorage()
    let ledger = try await ledgerBehindAnotherWriter(storage)
    storage.holdNextWrite(failingAfterBuilding: true)
    let writes = storage.writes
    let first = Task { try await ledger.append([self.event(2)]) }
    try await Self.waitUntil { storage.writes > writes }
    let arrived = (3..<6).map { i in Task { try await ledger.append([self.event(i)]) } }
    try await Self.waitUntil { ledger.waitingAppendCount == 3 }
    storage.releaseHeldWrite()
    for task in [first] + arrived {
      let result = await task.result
      #expect(throws: LedgerError.self) { _ = try result.get() }
    }
    #expect(try await ledger.append(event(9)).index == 2, "nothing of the failed batch was kept, and the ledger writes again")
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
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
