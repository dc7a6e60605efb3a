import CustosCrypto
import CustosLedger
import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// Idempotency keys on each store: written with their entries, answered from storage on a retry (also
/// from another handle, as another node or a restarted one would), replaced once expired, pruned.
@Suite struct IdempotencyStoreTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())
  static let hour: Int64 = 3_600_000_000_000

  func claim(_ key: String, caller: String = "Service::\"a\"", response: [UInt8] = [1], expiresAt: Int64 = wallClockNanoseconds() + hour)
    -> IdempotencyClaim
  {
    IdempotencyClaim(
      key: IdempotencyKey(caller: caller, key: key), fingerprint: SHA256.hash(Array(key.utf8)), response: response, expiresAt: expiresAt)
  }

  func events(_ count: Int) -> [LedgerEvent] {
    (0..<count).map { LedgerStoreTests.event($0) }
  }

  @Test(arguments: StoreKind.allCases) func aRetryIsAnsweredFromTheStoredRecordAndWritesNothing(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let ledger = try Ledger(storage: try store.open().ledgerStorage, signer: signer)
    _ = try await ledger.append(events(3))
    guard case let .recorded(first) = try await ledger.append(events(2), claim: claim("k1", response: [7, 7])) else {
      Issue.record("the first request under a key is recorded")
      return
    }
    #expect(first.map(\.index) == [3, 4])
    // A retry through another handle (a restarted node, or another node on PostgreSQL).
    let other = try Ledger(storage: try store.open().ledgerStorage, signer: signer)
    guard case let .replayed(record, receipts) = try await other.append(events(2), claim: claim("k1")) else {
      Issue.record("a retry is answered from the stored record")
      return
    }
    #expect(receipts == first && record.response == [7, 7] && record.firstIndex == 3 && record.entryCount == 2)
    #expect(await other.size == 5)
    // The same key from another caller is another key.
    guard case .recorded = try await other.append(events(1), claim: claim("k1", caller: "Service::\"b\"")) else {
      Issue.record("keys are per caller")
      return
    }
    #expect(try LedgerVerifier(storage: try store.open().ledgerStorage, verifier: signer.verifier).verify().checked == 6)
  }

  @Test(arguments: StoreKind.allCases) func concurrentRepeatsWaitForTheFirstAndRecordOnce(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let ledger = try Ledger(storage: try store.open().ledgerStorage, signer: signer)
    let outcomes = try await withThrowingTaskGroup(of: AppendOutcome.self) { group in
      for i in 0..<40 {
        group.addTask { try await ledger.append(self.events(1), claim: self.claim("k\(i % 4)")) }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    var recorded: [UInt64] = []
    var replayed: [UInt64] = []
    for outcome in outcomes {
      switch outcome {
      case let .recorded(receipts): recorded += receipts.map(\.index)
      case let .replayed(_, receipts): replayed += receipts.map(\.index)
      }
    }
    #expect(recorded.count == 4 && Set(recorded).count == 4)
    #expect(replayed.count == 36 && Set(replayed) == Set(recorded))
    #expect(await ledger.size == 4)
  }

  @Test(arguments: StoreKind.allCases) func anExpiredKeyIsUsedAfreshAndPruned(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let storage = try store.open().ledgerStorage
    let ledger = try Ledger(storage: storage, signer: signer)
    let past = wallClockNanoseconds() - 1
    _ = try await ledger.append(events(1), claim: claim("old", expiresAt: past))
    _ = try await ledger.append(events(1), claim: claim("live"))
    guard case .recorded = try await ledger.append(events(1), claim: claim("old", expiresAt: past)) else {
      Issue.record("an expired key records again")
      return
    }
    #expect(try storage.pruneIdempotencyRecords(expiredBy: wallClockNanoseconds()) == 1)
    guard case .replayed = try await ledger.append(events(1), claim: claim("live")) else {
      Issue.record("pruning keeps live keys")
      return
    }
    #expect(await ledger.size == 3)
  }
}
