import CustosCrypto
import CustosLedger
import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// The ledger end to end on each store — a real SQLite file and a real PostgreSQL database: appends,
/// proofs, queries, several writers, and tamper detection.
@Suite struct LedgerStoreTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  static func event(_ i: Int, kind: String = "audit.event", actor: String = "Service::\"crm-sync\"") -> LedgerEvent {
    LedgerEvent(
      kind: kind, actor: actor, action: i % 2 == 0 ? "read" : "write", resource: "Customer::\"\(i % 5)\"",
      outcome: i % 3 == 0 ? "failure" : "success", details: ["n": .integer(Int64(i))])
  }

  func event(_ i: Int, kind: String = "audit.event", actor: String = "Service::\"crm-sync\"") -> LedgerEvent {
    Self.event(i, kind: kind, actor: actor)
  }

  /// Opens a ledger on a new handle of `store`'s database (as a restarted node would).
  func openLedger(_ store: TestStore) throws -> (Ledger, any LedgerStorage) {
    let storage = try store.open().ledgerStorage
    return (try Ledger(storage: storage, signer: signer), storage)
  }

  /// Appends `count` entries in a few concurrent batches.
  func fill(_ ledger: Ledger, count: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for chunk in stride(from: 0, to: count, by: 10) {
        group.addTask { _ = try await ledger.append((chunk..<min(chunk + 10, count)).map { Self.event($0) }) }
      }
      try await group.waitForAll()
    }
  }

  /// The stored canonical bytes of entry `index`.
  func canonical(_ storage: any LedgerStorage, _ index: UInt64) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try storage.forEachEntry(in: index..<(index + 1)) { bytes = $0.canonical; return false }
    return bytes
  }

  @Test(arguments: StoreKind.allCases) func migrationsAreVersionedAndRunAtOpen(_ kind: StoreKind) throws {
    let store = try TestStore(kind)
    let expected = kind == .sqlite
      ? ["v1-ledger", "v2-keys", "v3-tokens", "v4-ledger-node-tiles", "v5-ledger-tip", "v6-ledger-signing-key", "v7-idempotency-keys", "v8-witness-cosignatures"]
      : ["v1-ledger", "v2-keys", "v3-tokens", "v4-policies", "v5-ledger-signing-key", "v6-idempotency-keys", "v7-witness-cosignatures", "v8-write-batch"]
    #expect(try store.open().appliedMigrations() == expected)
    #expect(try store.open().appliedMigrations() == expected)  // reopening runs nothing twice
  }

  @Test(arguments: StoreKind.allCases) func appendsAreDurableOrderedAndProvable(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    try await fill(ledger, count: 100)
    #expect(await ledger.size == 100)
    let checkpoint = try #require(await ledger.latestCheckpoint)
    #expect(checkpoint.checkpoint.size == 100)

    // Reopening rebuilds the same head from storage.
    let (reopened, _) = try openLedger(store)
    #expect(await reopened.size == 100)
    #expect(await reopened.latestCheckpoint == checkpoint)

    var leaves: [SHA256Digest] = []
    var prev = SHA256Digest.zero
    try storage.forEachEntry(in: 0..<100) { stored in
      let entry = try LedgerEntry(canonicalBytes: stored.canonical)
      #expect(entry.index == UInt64(leaves.count))
      #expect(entry.prev == prev)
      prev = MerkleHashing.leafHash(stored.canonical)
      leaves.append(prev)
      return true
    }
    #expect(leaves.count == 100)
    for index in [0, 1, 37, 63, 64, 99] as [UInt64] {
      let proof = try ledger.inclusionProof(index: index, treeSize: 100, checkpointSize: 100)
      #expect(proof.leafHash == leaves[Int(index)])
      try ProofVerification.verifyInclusion(index: index, size: 100, leafHash: proof.leafHash, proof: proof.hashes, root: checkpoint.checkpoint.rootHash)
    }
    for old in [1, 2, 3, 50, 64, 99, 100] as [UInt64] {
      let proof = try ledger.consistencyProof(oldSize: old, newSize: 100, checkpointSize: 100)
      try ProofVerification.verifyConsistency(oldSize: old, newSize: 100, proof: proof.hashes, oldRoot: proof.oldRootHash, newRoot: checkpoint.checkpoint.rootHash)
    }
    #expect(throws: LedgerError.self) { try ledger.inclusionProof(index: 100, treeSize: 100, checkpointSize: 100) }
    #expect(throws: LedgerError.self) { try ledger.inclusionProof(index: 1, treeSize: 101, checkpointSize: 100) }
    #expect(throws: LedgerError.self) { try ledger.consistencyProof(oldSize: 5, newSize: 4, checkpointSize: 100) }
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
    let tip = try #require(try storage.tip())
    #expect(tip.size == 100 && tip.checkpointNote == checkpoint.note && tip.lastLeafHash == leaves[99])
  }

  /// Several writers on one database — nodes sharing PostgreSQL, or two handles on one SQLite file —
  /// extend one log: every batch is rebuilt on the tip it finds under the store's write lock, so no
  /// index is given twice, every receipt is in the log, and every signed checkpoint is consistent
  /// with every later one.
  @Test(arguments: StoreKind.allCases) func severalWritersExtendOneLog(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let writers = try (0..<3).map { _ in try openLedger(store).0 }
    let receipts = try await withThrowingTaskGroup(of: [LedgerReceipt].self) { group in
      for (w, ledger) in writers.enumerated() {
        for request in 0..<20 {
          group.addTask {
            try await ledger.append((0..<3).map { Self.event(w * 1000 + request * 10 + $0, actor: "Service::\"writer-\(w)\"") })
          }
        }
      }
      return try await group.reduce(into: []) { $0 += $1 }
    }
    #expect(receipts.count == 180)
    #expect(Set(receipts.map(\.index)) == Set(0..<180))
    let (reader, storage) = try openLedger(store)
    #expect(await reader.size == 180)
    for receipt in receipts {
      #expect(try canonical(storage, receipt.index).isEmpty == false)
      #expect(try storage.nodeHashes([NodeID(level: 0, index: receipt.index)])[NodeID(level: 0, index: receipt.index)] == receipt.leafHash)
    }
    let report = try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
    #expect(report.ok && report.checked == 180, "\(String(describing: report.failure))")
    let checkpoints = try storage.checkpoints(sizes: 1...180).map { try SignedCheckpoint(note: $0.note, verifier: signer.verifier) }
    #expect(checkpoints.count >= 3 && checkpoints.last?.checkpoint.size == 180)
    let latest = checkpoints.last!.checkpoint
    for older in checkpoints.dropLast() {
      let proof = try reader.consistencyProof(oldSize: older.checkpoint.size, newSize: 180, checkpointSize: 180)
      try ProofVerification.verifyConsistency(
        oldSize: older.checkpoint.size, newSize: 180, proof: proof.hashes, oldRoot: older.checkpoint.rootHash, newRoot: latest.rootHash)
    }
    // Times never decrease along the log, whichever writer wrote.
    var lastTime: Int64 = 0
    try storage.forEachEntry(in: 0..<180) { entry in
      #expect(entry.time >= lastTime)
      lastTime = entry.time
      return true
    }
    // A writer that did not write last catches up on its next batch.
    let next = try await writers[0].append(event(9999))
    #expect(next.index == 180)
  }

  /// A stored tip is never built on unless the ledger key signed it and its compact range has the
  /// signed root: a writer with another key, or an edited tip row, stops appends (nothing acknowledged).
  @Test(arguments: StoreKind.allCases) func aForgedOrAlteredTipIsNeverBuiltOn(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, _) = try openLedger(store)
    try await fill(ledger, count: 5)
    let signed = try #require(await ledger.latestCheckpoint)
    let intruder = NoteSigner(name: signer.name, privateKey: Ed25519.PrivateKey())
    let forgedNote = intruder.sign(signed.checkpoint.body)
    let quote = forgedNote.replacingOccurrences(of: "'", with: "''")
    try store.tamper("UPDATE ledger_tip SET checkpoint_note = '\(quote)' WHERE id = 1")
    await #expect(throws: LedgerError.self) { _ = try await ledger.append(self.event(6)) }

    let other = try TestStore(kind)
    let (second, _) = try openLedger(other)
    try await fill(second, count: 5)
    try other.tamper("UPDATE ledger_tip SET range_hashes = \(other.blob([UInt8](repeating: 7, count: 64))), last_leaf_hash = \(other.blob([UInt8](repeating: 9, count: 32))) WHERE id = 1")
    await #expect(throws: LedgerError.self) { _ = try await second.append(self.event(6)) }
    #expect(try other.open().ledgerStorage.tip()?.size == 5)
  }

  @Test(arguments: StoreKind.allCases) func queriesFilterFromIndexesAndPaginate(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    try await fill(ledger, count: 60)
    _ = try await ledger.append(event(1000, kind: "deploy.start", actor: "Service::\"deploy-bot\""))
    let page1 = try ledger.query(LedgerQuery(action: "read", outcome: "failure", limit: 3))
    #expect(page1.map(\.index) == [0, 6, 12])
    let page2 = try ledger.query(LedgerQuery(action: "read", outcome: "failure", startIndex: page1.last!.index + 1, limit: 3))
    #expect(page2.map(\.index) == [18, 24, 30])
    #expect(try ledger.query(LedgerQuery(actor: "Service::\"deploy-bot\"")).map(\.kind) == ["deploy.start"])
    let last = page2.last!.time
    #expect(try ledger.query(LedgerQuery(timeFrom: last + 1, limit: 1000)).allSatisfy { $0.time > last })
    #expect(try ledger.query(LedgerQuery(timeTo: last + 1, limit: 1000)).allSatisfy { $0.time <= last })
    #expect(try storage.firstIndex(atOrAfter: Int64.max) == 61)
    #expect(try storage.firstIndex(atOrAfter: 0) == 0)
    #expect(throws: LedgerError.self) { try ledger.query(LedgerQuery(limit: 0)) }
    for filter in [LedgerQuery(kind: "x"), LedgerQuery(actor: "x"), LedgerQuery(action: "x"), LedgerQuery(resource: "x"), LedgerQuery(outcome: "x")] {
      switch storage {
      case let sqlite as SQLiteLedgerStorage:
        let plan = try sqlite.queryPlan(filter)
        #expect(plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"), "\(plan)")
      case let postgres as PostgresLedgerStorage:
        let plan = try postgres.queryPlan(filter)
        #expect(plan.contains("Index Scan") || plan.contains("Index Only Scan") || plan.contains("Bitmap Index Scan"), "\(plan)")
        #expect(!plan.contains("Seq Scan"), "\(plan)")
      default: Issue.record("unknown storage")
      }
    }
  }

  @Test(arguments: StoreKind.allCases) func badEventsAreRejectedAndNothingIsWritten(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    let bad: [LedgerEvent] = [
      LedgerEvent(kind: "Bad Kind", actor: "a", action: "b", resource: "c", outcome: "d"),
      LedgerEvent(kind: "audit.event", actor: "", action: "b", resource: "c", outcome: "d"),
      LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "c", outcome: "d", details: ["big": .string(String(repeating: "x", count: 70_000))]),
    ]
    for event in bad {
      await #expect(throws: LedgerError.self) { _ = try await ledger.append([self.event(1), event]) }
    }
    #expect(await ledger.size == 0)
    #expect(try storage.tip() == nil && storage.latestCheckpoint() == nil)
  }

  @Test(arguments: StoreKind.allCases) func storageRefusesUpdatesAndDeletes(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, _) = try openLedger(store)
    try await fill(ledger, count: 3)
    for sql in [
      "UPDATE ledger_entries SET actor = 'x'", "DELETE FROM ledger_entries", "UPDATE ledger_checkpoints SET note = 'x'",
      "DELETE FROM \(store.nodesTable)",
    ] {
      #expect(throws: (any Error).self, "\(sql)") { try store.execute(sql) }
    }
    if kind == .postgres { #expect(throws: (any Error).self) { try store.execute("TRUNCATE ledger_entries") } }
    #expect(await (try openLedger(store).0).size == 3)
  }

  func verifyAfterTampering(_ kind: StoreKind, _ tamper: (TestStore, any LedgerStorage) throws -> Void) async throws -> VerificationReport {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    try await fill(ledger, count: 50)
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
    try tamper(store, storage)
    return try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
  }

  func replacing(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
    Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
  }

  @Test(arguments: StoreKind.allCases) func editingOneByteIsDetectedAtItsIndex(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, storage in
      let edited = replacing(try canonical(storage, 17), "\"n\":17", "\"n\":18")
      try store.tamper("UPDATE ledger_entries SET canonical = \(store.blob(edited)) WHERE idx = 17")
    }
    #expect(report.failure?.index == 17)
    #expect(report.failure?.reason.contains("leaf hash") == true)
  }

  @Test(arguments: StoreKind.allCases) func rewritingAnEntryWithItsHashIsDetectedByTheNextLink(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, storage in
      let forged = replacing(try canonical(storage, 20), "\"n\":20", "\"n\":99")
      try store.tamper(
        "UPDATE ledger_entries SET canonical = \(store.blob(forged)), leaf_hash = \(store.blob(MerkleHashing.leafHash(forged).bytes)) WHERE idx = 20")
    }
    #expect(report.failure?.index == 21)
    #expect(report.failure?.reason.contains("prev") == true)
  }

  /// A forger who rewrites the tail and re-links every hash still cannot match the signed checkpoints:
  /// the failure names the batch where the rewrite starts.
  @Test(arguments: StoreKind.allCases) func aConsistentRewriteIsPinnedToItsBatch(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    for batch in 0..<5 { _ = try await ledger.append((0..<10).map { self.event(batch * 10 + $0) }) }  // checkpoints at 10, 20, ... 50
    var prev = MerkleHashing.leafHash(try canonical(storage, 29))
    var script = ""
    for index in 30..<50 as Range<UInt64> {
      var entry = try LedgerEntry(canonicalBytes: try canonical(storage, index))
      entry.event.outcome = "forged"
      entry.prev = prev
      let bytes = entry.canonicalBytes
      prev = MerkleHashing.leafHash(bytes)
      script += "UPDATE ledger_entries SET canonical = \(store.blob(bytes)), leaf_hash = \(store.blob(prev.bytes)) WHERE idx = \(index);"
    }
    try store.tamper(script)
    let report = try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
    let failure = try #require(report.failure)
    #expect(failure.index == 30, "the rewrite starts at 30, the first entry after checkpoint 30: \(failure)")
    #expect(failure.reason.contains("do not match the signed checkpoint"), "\(failure.reason)")
  }

  @Test(arguments: StoreKind.allCases) func deletingARowIsDetected(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, _ in try store.tamper("DELETE FROM ledger_entries WHERE idx = 33") }
    #expect(report.failure?.index == 33)
    #expect(report.failure?.reason.contains("missing") == true)
  }

  @Test(arguments: StoreKind.allCases) func swappingTwoRowsIsDetected(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, _ in
      try store.tamper("""
        UPDATE ledger_entries SET idx = -1 WHERE idx = 10;
        UPDATE ledger_entries SET idx = 10 WHERE idx = 11;
        UPDATE ledger_entries SET idx = 11 WHERE idx = -1;
        """)
    }
    #expect(report.failure?.index == 10)
  }

  @Test(arguments: StoreKind.allCases) func truncatingTheTableIsDetected(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, _ in try store.tamper("DELETE FROM ledger_entries WHERE idx >= 40") }
    #expect(report.failure?.index == 40)
  }

  @Test(arguments: StoreKind.allCases) func emptyingTheTableIsDetected(_ kind: StoreKind) async throws {
    let report = try await verifyAfterTampering(kind) { store, _ in try store.tamper("DELETE FROM ledger_entries") }
    #expect(report.failure?.index == 0)
  }

  /// Past one storage chunk (4096) and across many runs (256): a change at either side of each
  /// boundary is reported at its own index, and ranges that start and end between boundaries verify.
  @Test(arguments: StoreKind.allCases) func tamperingIsPinnedAcrossChunksAndRuns(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    for batch in stride(from: 0, to: 5000, by: 500) { _ = try await ledger.append((batch..<(batch + 500)).map { self.event($0) }) }
    let verifier = LedgerVerifier(storage: storage, verifier: signer.verifier)
    #expect(try verifier.verify().checked == 5000)
    #expect(try verifier.verify(start: 300, end: 4500).checked == 4200)
    #expect(try verifier.verify(start: 4095, end: 4097).checked == 2)
    for index in [0, 255, 256, 257, 4095, 4096, 4999] as [UInt64] {
      let original = try canonical(storage, index)
      let edited = replacing(original, "\"n\":\(index)}", "\"n\":\(index + 1_000_000)}")
      try store.tamper("UPDATE ledger_entries SET canonical = \(store.blob(edited)) WHERE idx = \(index)")
      let report = try verifier.verify()
      #expect(report.failure?.index == index && report.failure?.reason.contains("leaf hash") == true, "edit at \(index): \(String(describing: report.failure))")
      #expect(report.checked == index)
      try store.tamper("UPDATE ledger_entries SET canonical = \(store.blob(original)) WHERE idx = \(index)")
      #expect(try verifier.verify().ok)
    }
    try store.tamper("DELETE FROM ledger_entries WHERE idx = 4096")
    let deleted = try verifier.verify()
    #expect(deleted.failure?.index == 4096 && deleted.failure?.reason.contains("missing") == true, "\(String(describing: deleted.failure))")
  }

  @Test(arguments: StoreKind.allCases) func rangeVerificationChecksOnlyTheRangeButStillTheRoot(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, storage) = try openLedger(store)
    try await fill(ledger, count: 50)
    let verifier = LedgerVerifier(storage: storage, verifier: signer.verifier)
    let report = try verifier.verify(start: 10, end: 20)
    #expect(report.ok && report.checked == 10)
    try store.tamper("UPDATE \(store.nodesTable) SET hash = \(store.blob([UInt8](repeating: 0, count: 32))) WHERE level = 3 AND idx = 0")
    // A new handle: the altered node must not be served from the first one's cache.
    let fresh = try store.open().ledgerStorage
    #expect(try LedgerVerifier(storage: fresh, verifier: signer.verifier).verify(start: 10, end: 20).ok == false)
    #expect(throws: LedgerError.self) { try verifier.verify(start: 10, end: 51) }
    #expect(throws: LedgerError.self) { try verifier.verify(start: 30, end: 20) }
  }

  @Test(arguments: StoreKind.allCases) func aLedgerWhoseStoredTreeWasAlteredRefusesToOpen(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, _) = try openLedger(store)
    try await fill(ledger, count: 8)
    try store.tamper("UPDATE \(store.nodesTable) SET hash = \(store.blob([UInt8](repeating: 0, count: 32))) WHERE level = 3")
    #expect(throws: LedgerError.self) { _ = try openLedger(store) }
  }

  @Test(arguments: StoreKind.allCases) func aFailedCommitAcknowledgesNothingAndTheLedgerRecovers(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let (ledger, _) = try openLedger(store)
    try await fill(ledger, count: 5)
    // A conflicting row makes the next batch's transaction fail as a whole.
    let conflict = kind == .sqlite
      ? "INSERT INTO ledger_node_tiles (tile, level, idx, hash) VALUES (0, 1, 2, \(store.blob([UInt8](repeating: 0, count: 32))))"
      : "INSERT INTO ledger_nodes (level, idx, hash) VALUES (1, 2, \(store.blob([UInt8](repeating: 0, count: 32))))"
    try store.tamper(conflict)
    await #expect(throws: LedgerError.self) { _ = try await ledger.append([self.event(5)]) }
    #expect(await ledger.size == 5)
    try store.tamper("DELETE FROM \(store.nodesTable) WHERE level = 1 AND idx = 2")
    let receipts = try await ledger.append([event(5), event(6)])
    #expect(receipts.map(\.index) == [5, 6])
  }
}

/// The ledger's sealed signing key on each store: written once, the first writer's key kept.
@Suite struct LedgerSigningKeyStoreTests {
  @Test(arguments: StoreKind.allCases) func theFirstStoredKeyWinsAndSurvivesAReopen(_ kind: StoreKind) throws {
    let test = try TestStore(kind)
    let keys = try test.open().ledgerSigningKeyStore
    #expect(try keys.storedSigningKey() == nil)
    let first = StoredLedgerSigningKey(publicKey: [UInt8](repeating: 1, count: 32), sealedPrivateKey: [9, 8, 7, 6])
    #expect(try keys.storeSigningKey(first) == first)
    // A second node that made its own key meanwhile gets the stored one back.
    let second = StoredLedgerSigningKey(publicKey: [UInt8](repeating: 2, count: 32), sealedPrivateKey: [5])
    #expect(try test.open().ledgerSigningKeyStore.storeSigningKey(second) == first)
    #expect(try test.open().ledgerSigningKeyStore.storedSigningKey() == first)
  }

  @Test(arguments: StoreKind.allCases) func aPublicKeyOfTheWrongLengthIsRefused(_ kind: StoreKind) throws {
    let keys = try TestStore(kind).open().ledgerSigningKeyStore
    #expect(throws: (any Error).self) { try keys.storeSigningKey(StoredLedgerSigningKey(publicKey: [1, 2], sealedPrivateKey: [3])) }
    #expect(try keys.storedSigningKey() == nil)
  }
}

/// Witness cosignatures on each store: kept per size and witness, the newest sizes read back.
@Suite struct CosignatureStoreTests {
  @Test(arguments: StoreKind.allCases) func theNewestCosignaturesAreReadBack(_ kind: StoreKind) throws {
    let test = try TestStore(kind)
    let store = try test.open().cosignatureStore
    for size in [3, 7, 9] as [UInt64] {
      try store.saveCosignature(size: size, witness: "w1", line: "\u{2014} w1 line-\(size)\n")
    }
    try store.saveCosignature(size: 9, witness: "w2", line: "\u{2014} w2 line-9\n")
    try store.saveCosignature(size: 9, witness: "w2", line: "\u{2014} w2 again-9\n")  // the newer line replaces it
    let recent = try test.open().cosignatureStore.recentCosignatures(sizes: 2)
    #expect(recent.map(\.size) == [9, 9, 7])
    #expect(recent.map(\.line) == ["\u{2014} w1 line-9\n", "\u{2014} w2 again-9\n", "\u{2014} w1 line-7\n"])
  }
}
