import CustosCrypto
import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore
import Logging
import Synchronization
import Testing

@testable import CustosServer

/// A ledger store that works until told to fail, like a disk that fills up.
final class FailingLedgerStorage: LedgerStorage, Sendable {
  private let failing = Atomic<Bool>(false)
  private let entries = Mutex<[StoredEntry]>([])
  private let nodes = Mutex<[NodeID: SHA256Digest]>([:])
  private let latest = Mutex<SignedCheckpoint?>(nil)

  func startFailing() { failing.store(true, ordering: .sequentiallyConsistent) }

  func appendBatch(_ batch: LedgerBatch) throws {
    if failing.load(ordering: .sequentiallyConsistent) { throw LedgerError.unavailable("disk full (simulated)") }
    entries.withLock { $0 += batch.entries }
    nodes.withLock { nodes in
      for entry in batch.entries { nodes[NodeID(level: 0, index: entry.index)] = entry.leafHash }
      for (id, hash) in batch.closedNodes { nodes[id] = hash }
    }
    latest.withLock { $0 = batch.checkpoint }
  }
  func latestCheckpoint() throws -> SignedCheckpoint? { latest.withLock { $0 } }
  func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] { [] }
  func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] {
    nodes.withLock { all in Dictionary(uniqueKeysWithValues: Set(ids).compactMap { id in all[id].map { (id, $0) } }) }
  }
  func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws {
    for entry in entries.withLock({ $0 }) where range.contains(entry.index) { guard try body(entry) else { return } }
  }
  func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk { EntryBytesChunk() }
  func query(_ query: LedgerQuery) throws -> [StoredEntry] { [] }
}

@Suite struct FailClosedTests {
  @Test func aDecisionTheLedgerCannotRecordIsUnavailableNeverAllow() async throws {
    let storage = FailingLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()))
    let policies = try await ActivePolicySet(
      directory: DaemonProcess.packageRoot.appendingPathComponent("policies").path, ledger: ledger, logger: Logger(label: "test"))
    let service = AuthorizationService(policies: policies, ledger: ledger)
    let context = ServerContext(
      descriptor: MethodDescriptor(fullyQualifiedService: "custos.v1.Authorization", method: "Check"), remotePeer: "test",
      localPeer: "test", cancellation: .init())
    let allowed = AuthorizationEndToEndTests.refund(cents: 100, hour: 12)
    #expect(try await service.check(request: allowed, context: context).decision == .allow)

    storage.startFailing()
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
