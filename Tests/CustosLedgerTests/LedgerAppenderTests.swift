import CustosCrypto
import Dispatch
import Synchronization
import Testing

@testable import CustosLedger

/// Storage in memory, with a switch to fail the next write after a delay (to let the next batch be
/// prepared on top of the failing one).
final class FlakyMemoryStorage: LedgerStorage, Sendable {
  private struct State {
    var entries: [StoredEntry] = []
    var nodes: [NodeID: SHA256Digest] = [:]
    var checkpoints: [SignedCheckpoint] = []
    var failNextWrite = false
    var writes = 0
  }
  private let state = Mutex(State())

  func failNextWrite() { state.withLock { $0.failNextWrite = true } }
  var writes: Int { state.withLock { $0.writes } }

  func appendBatch(_ batch: LedgerBatch) throws {
    let fail = state.withLock { state -> Bool in
      state.writes += 1
      defer { state.failNextWrite = false }
      return state.failNextWrite
    }
    if fail {
      Thread.sleepForTests(milliseconds: 50)
      throw LedgerError.unavailable("disk full (simulated)")
    }
    state.withLock { state in
      state.entries += batch.entries
      for entry in batch.entries { state.nodes[NodeID(level: 0, index: entry.index)] = entry.leafHash }
      for (id, hash) in batch.closedNodes { state.nodes[id] = hash }
      state.checkpoints.append(batch.checkpoint)
    }
  }

  func latestCheckpoint() throws -> SignedCheckpoint? { state.withLock { $0.checkpoints.last } }
  func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] {
    state.withLock { $0.checkpoints.filter { sizes.contains($0.checkpoint.size) } }
  }
  func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] {
    state.withLock { state in Dictionary(uniqueKeysWithValues: Set(ids).compactMap { id in state.nodes[id].map { (id, $0) } }) }
  }
  func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws {
    for entry in state.withLock({ $0.entries }) where range.contains(entry.index) { guard try body(entry) else { return } }
  }
  func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk {
    var chunk = EntryBytesChunk()
    try forEachEntry(in: range) { entry in
      entry.canonical.withUnsafeBytes { chunk.append(index: entry.index, canonical: $0, storedLeafHash: entry.leafHash) }
      return true
    }
    return chunk
  }
  func query(_ query: LedgerQuery) throws -> [StoredEntry] { [] }
}

extension Thread {
  static func sleepForTests(milliseconds: Int) { usleep(UInt32(milliseconds * 1000)) }
}

@Suite struct LedgerAppenderTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  func event(_ i: Int) -> LedgerEvent {
    LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "r\(i)", outcome: "ok")
  }

  @Test func aFailedWriteFailsOnlyItsCallersAndTheBatchPreparedOnItIsRetried() async throws {
    let storage = FlakyMemoryStorage()
    let ledger = try Ledger(storage: storage, signer: signer)
    _ = try await ledger.append([event(0)])
    storage.failNextWrite()
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
    let storage = FlakyMemoryStorage()
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

#if canImport(Glibc)
import Glibc
#endif
import Foundation
