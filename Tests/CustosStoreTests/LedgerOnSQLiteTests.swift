import CustosCrypto
import CustosLedger
import Foundation
import GRDB
import Testing

@testable import CustosStore

/// The ledger end to end on a real SQLite file: appends, proofs, queries, and tamper detection.
@Suite struct LedgerOnSQLiteTests {
  let directory: URL
  let path: String
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    path = directory.appendingPathComponent("custos.sqlite").path
  }

  func event(_ i: Int, kind: String = "audit.event", actor: String = "Service::\"crm-sync\"") -> LedgerEvent {
    LedgerEvent(
      kind: kind, actor: actor, action: i % 2 == 0 ? "read" : "write", resource: "Customer::\"\(i % 5)\"",
      outcome: i % 3 == 0 ? "failure" : "success", details: ["n": .integer(Int64(i))])
  }

  func openLedger() throws -> (Ledger, SQLiteLedgerStorage) {
    let store = try SQLiteStore(path: path)
    let storage = store.ledgerStorage
    return (try Ledger(storage: storage, signer: signer), storage)
  }

  /// Appends `count` entries in a few concurrent batches.
  func fill(_ ledger: Ledger, count: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for chunk in stride(from: 0, to: count, by: 10) {
        group.addTask { _ = try await ledger.append((chunk..<min(chunk + 10, count)).map { self.event($0) }) }
      }
      try await group.waitForAll()
    }
  }

  func rawWrite(_ sql: String, _ arguments: StatementArguments = []) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
      for table in ["ledger_entries", "ledger_node_tiles", "ledger_checkpoints"] {
        try db.execute(sql: "DROP TRIGGER IF EXISTS \(table)_no_update; DROP TRIGGER IF EXISTS \(table)_no_delete")
      }
      try db.execute(sql: sql, arguments: arguments)
    }
  }

  @Test func migrationsAreVersionedAndRunAtOpen() throws {
    let store = try SQLiteStore(path: path)
    #expect(try store.appliedMigrations() == ["v1-ledger", "v2-keys", "v3-tokens", "v4-ledger-node-tiles"])
    _ = try SQLiteStore(path: path)  // reopening runs nothing twice
  }

  @Test func appendsAreDurableOrderedAndProvable() async throws {
    let (ledger, storage) = try openLedger()
    try await fill(ledger, count: 100)
    #expect(await ledger.size == 100)
    let checkpoint = try #require(await ledger.latestCheckpoint)
    #expect(checkpoint.checkpoint.size == 100)

    // Reopening rebuilds the same head from disk.
    let (reopened, _) = try openLedger()
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
  }

  @Test func queriesFilterFromIndexesAndPaginate() async throws {
    let (ledger, storage) = try openLedger()
    try await fill(ledger, count: 60)
    _ = try await ledger.append(event(1000, kind: "deploy.start", actor: "Service::\"deploy-bot\""))
    let page1 = try ledger.query(LedgerQuery(action: "read", outcome: "failure", limit: 3))
    #expect(page1.map(\.index) == [0, 6, 12])
    let page2 = try ledger.query(LedgerQuery(action: "read", outcome: "failure", startIndex: page1.last!.index + 1, limit: 3))
    #expect(page2.map(\.index) == [18, 24, 30])
    #expect(try ledger.query(LedgerQuery(actor: "Service::\"deploy-bot\"")).map(\.kind) == ["deploy.start"])
    let last = page2.last!.time
    #expect(try ledger.query(LedgerQuery(timeFrom: last + 1, limit: 1000)).allSatisfy { $0.time > last })
    #expect(throws: LedgerError.self) { try ledger.query(LedgerQuery(limit: 0)) }
    for filter in [LedgerQuery(kind: "x"), LedgerQuery(actor: "x"), LedgerQuery(action: "x"), LedgerQuery(resource: "x"), LedgerQuery(outcome: "x")] {
      let plan = try storage.queryPlan(filter)
      #expect(plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"), "\(plan)")
    }
    #expect(try storage.queryPlan(LedgerQuery()).contains("INTEGER PRIMARY KEY"))
  }

  @Test func badEventsAreRejectedAndNothingIsWritten() async throws {
    let (ledger, _) = try openLedger()
    let bad: [LedgerEvent] = [
      LedgerEvent(kind: "Bad Kind", actor: "a", action: "b", resource: "c", outcome: "d"),
      LedgerEvent(kind: "audit.event", actor: "", action: "b", resource: "c", outcome: "d"),
      LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "c", outcome: "d", details: ["big": .string(String(repeating: "x", count: 70_000))]),
    ]
    for event in bad {
      await #expect(throws: LedgerError.self) { _ = try await ledger.append([self.event(1), event]) }
    }
    #expect(await ledger.size == 0)
    #expect(throws: LedgerError.self) { try LedgerEvent.parseDetails(Array("[1]".utf8)) }
    #expect(throws: LedgerError.self) { try LedgerEvent.parseDetails(Array("{\"x\":1.5}".utf8)) }
    #expect(throws: LedgerError.self) { try LedgerEvent.parseDetails([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) }
  }

  @Test func storageRefusesUpdatesAndDeletes() async throws {
    let (ledger, _) = try openLedger()
    try await fill(ledger, count: 3)
    let queue = try DatabaseQueue(path: path)
    #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE ledger_entries SET actor = 'x'") } }
    #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM ledger_entries") } }
  }

  func verifyAfterTampering(_ tamper: () throws -> Void) async throws -> VerificationReport {
    let (ledger, storage) = try openLedger()
    try await fill(ledger, count: 50)
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
    try tamper()
    return try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
  }

  @Test func editingOneByteIsDetectedAtItsIndex() async throws {
    let report = try await verifyAfterTampering {
      try rawWrite("UPDATE ledger_entries SET canonical = CAST(replace(CAST(canonical AS TEXT), '\"n\":17', '\"n\":18') AS BLOB) WHERE idx = 17")
    }
    #expect(report.failure?.index == 17)
    #expect(report.failure?.reason.contains("leaf hash") == true)
  }

  @Test func rewritingAnEntryWithItsHashIsDetectedByTheNextLink() async throws {
    let report = try await verifyAfterTampering {
      let queue = try DatabaseQueue(path: path)
      let bytes = try queue.read { try Data.fetchOne($0, sql: "SELECT canonical FROM ledger_entries WHERE idx = 20")! }
      let forged = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"n\":20", with: "\"n\":99").utf8)
      try rawWrite("UPDATE ledger_entries SET canonical = ?, leaf_hash = ? WHERE idx = 20", [Data(forged), Data(MerkleHashing.leafHash(forged).bytes)])
    }
    #expect(report.failure?.index == 21)
    #expect(report.failure?.reason.contains("prev") == true)
  }

  /// A forger who rewrites the tail and re-links every hash still cannot match the signed checkpoints:
  /// the failure names the batch where the rewrite starts.
  @Test func aConsistentRewriteIsPinnedToItsBatch() async throws {
    let (ledger, storage) = try openLedger()
    for batch in 0..<5 { _ = try await ledger.append((0..<10).map { self.event(batch * 10 + $0) }) }  // checkpoints at 10, 20, ... 50
    do {
      let queue = try DatabaseQueue(path: path)
      let rows = try queue.read { try Row.fetchAll($0, sql: "SELECT idx, canonical FROM ledger_entries WHERE idx >= 29 ORDER BY idx") }
      var prev = MerkleHashing.leafHash([UInt8](rows[0]["canonical"] as Data))
      for row in rows.dropFirst() {
        var entry = try LedgerEntry(canonicalBytes: [UInt8](row["canonical"] as Data))
        entry.event.outcome = "forged"
        entry.prev = prev
        let bytes = entry.canonicalBytes
        prev = MerkleHashing.leafHash(bytes)
        try rawWrite("UPDATE ledger_entries SET canonical = ?, leaf_hash = ? WHERE idx = ?", [Data(bytes), Data(prev.bytes), row["idx"] as Int64])
      }
    }
    let report = try LedgerVerifier(storage: storage, verifier: signer.verifier).verify()
    let failure = try #require(report.failure)
    #expect(failure.index == 30, "the rewrite starts at 30, the first entry after checkpoint 30: \(failure)")
    #expect(failure.reason.contains("do not match the signed checkpoint"), "\(failure.reason)")
  }

  @Test func deletingARowIsDetected() async throws {
    let report = try await verifyAfterTampering { try rawWrite("DELETE FROM ledger_entries WHERE idx = 33") }
    #expect(report.failure?.index == 33)
    #expect(report.failure?.reason.contains("missing") == true)
  }

  @Test func swappingTwoRowsIsDetected() async throws {
    let report = try await verifyAfterTampering {
      try rawWrite("""
        UPDATE ledger_entries SET idx = -1 WHERE idx = 10;
        UPDATE ledger_entries SET idx = 10 WHERE idx = 11;
        UPDATE ledger_entries SET idx = 11 WHERE idx = -1;
        """)
    }
    #expect(report.failure?.index == 10)
  }

  @Test func truncatingTheTableIsDetected() async throws {
    let report = try await verifyAfterTampering { try rawWrite("DELETE FROM ledger_entries WHERE idx >= 40") }
    #expect(report.failure?.index == 40)
  }

  @Test func emptyingTheTableIsDetected() async throws {
    let report = try await verifyAfterTampering { try rawWrite("DELETE FROM ledger_entries") }
    #expect(report.failure?.index == 0)
  }

  /// Past one storage chunk (4096) and across many runs (256): a change at either side of each
  /// boundary is reported at its own index, and ranges that start and end between boundaries verify.
  @Test func tamperingIsPinnedAcrossChunksAndRuns() async throws {
    let (ledger, storage) = try openLedger()
    for batch in stride(from: 0, to: 5000, by: 500) { _ = try await ledger.append((batch..<(batch + 500)).map { self.event($0) }) }
    let verifier = LedgerVerifier(storage: storage, verifier: signer.verifier)
    #expect(try verifier.verify().checked == 5000)
    #expect(try verifier.verify(start: 300, end: 4500).checked == 4200)
    #expect(try verifier.verify(start: 4095, end: 4097).checked == 2)
    let queue = try DatabaseQueue(path: path)
    for index in [0, 255, 256, 257, 4095, 4096, 4999] {
      let original = try await queue.read { try Data.fetchOne($0, sql: "SELECT canonical FROM ledger_entries WHERE idx = ?", arguments: [index])! }
      let edited = Array(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"n\":\(index)}", with: "\"n\":\(index + 1_000_000)}").utf8)
      try rawWrite("UPDATE ledger_entries SET canonical = ? WHERE idx = ?", [Data(edited), index])
      let report = try verifier.verify()
      #expect(report.failure?.index == UInt64(index) && report.failure?.reason.contains("leaf hash") == true, "edit at \(index): \(String(describing: report.failure))")
      #expect(report.checked == UInt64(index))
      try rawWrite("UPDATE ledger_entries SET canonical = ? WHERE idx = ?", [original, index])
      #expect(try verifier.verify().ok)
    }
    try rawWrite("DELETE FROM ledger_entries WHERE idx = 4096")
    let deleted = try verifier.verify()
    #expect(deleted.failure?.index == 4096 && deleted.failure?.reason.contains("missing") == true, "\(String(describing: deleted.failure))")
  }

  @Test func rangeVerificationChecksOnlyTheRangeButStillTheRoot() async throws {
    let (ledger, storage) = try openLedger()
    try await fill(ledger, count: 50)
    let verifier = LedgerVerifier(storage: storage, verifier: signer.verifier)
    let report = try verifier.verify(start: 10, end: 20)
    #expect(report.ok && report.checked == 10)
    try rawWrite("UPDATE ledger_node_tiles SET hash = zeroblob(32) WHERE level = 3 AND idx = 0")
    #expect(try verifier.verify(start: 10, end: 20).ok == false)
    #expect(throws: LedgerError.self) { try verifier.verify(start: 10, end: 51) }
    #expect(throws: LedgerError.self) { try verifier.verify(start: 30, end: 20) }
  }

  /// The WAL is checkpointed in the background as the ledger writes: it is reused from its start
  /// instead of growing with everything written (SQLite's own checkpoint is held back to 64 MiB).
  @Test func theWALStaysSmallWhileTheLedgerGrows() async throws {
    let (ledger, storage) = try openLedger()
    let padding = String(repeating: "x", count: 4000)
    for batch in 0..<12 {
      _ = try await ledger.append((0..<500).map { i in
        LedgerEvent(kind: "audit.event", actor: "Service::\"a\"", action: "write", resource: "R::\"\(batch * 500 + i)\"", outcome: "ok", details: ["pad": .string(padding)])
      })
      try await Task.sleep(for: .milliseconds(20))
    }
    // The last checkpoint runs in the background: give it a moment on a loaded machine.
    func size(_ file: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int }
    for _ in 0..<100 where try size(path) <= 20 << 20 { try await Task.sleep(for: .milliseconds(20)) }
    let written = try size(path)
    let wal = try size(path + "-wal")
    // Without background checkpoints everything stays in the WAL: about 31 MB, and a 4 KiB database.
    #expect(written > 20 << 20, "the database holds \(written) bytes")
    #expect(wal < 16 << 20, "WAL of \(wal) bytes beside \(written) in the database")
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().checked == 6000)
  }

  /// A path's nodes at levels 1...6 share one tile, and the next six levels the tile above.
  @Test func aProofPathSharesOneTilePerSixLevels() {
    for leaf: UInt64 in [0, 1, 63, 64, 1_000_003, 9_999_999] {
      let tiles = (1...12).map { NodeTile.of(NodeID(level: UInt8($0), index: leaf >> UInt64($0))) }
      #expect(Set(tiles[0..<6]).count == 1 && Set(tiles[6..<12]).count == 1, "\(leaf): \(tiles)")
      #expect(tiles[0] == Int64(leaf >> 6) && tiles[6] == Int64(leaf >> 12))
    }
  }

  /// A database written before node tiles opens with its nodes moved into them (the SQL computes the
  /// same tile as `NodeTile`), and verifies and proves as before.
  @Test func nodesMoveIntoTilesWhenAnOlderDatabaseOpens() async throws {
    do {
      let (ledger, _) = try openLedger()
      try await fill(ledger, count: 300)
    }
    // Back to the v3 layout: nodes keyed by (level, idx) only.
    try rawWrite("""
      CREATE TABLE ledger_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
      INSERT INTO ledger_nodes SELECT level, idx, hash FROM ledger_node_tiles;
      CREATE TRIGGER ledger_nodes_no_update BEFORE UPDATE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'append-only'); END;
      CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'append-only'); END;
      DROP TABLE ledger_node_tiles;
      DELETE FROM grdb_migrations WHERE identifier = 'v4-ledger-node-tiles';
      """)
    let (ledger, storage) = try openLedger()
    let queue = try DatabaseQueue(path: path)
    let rows = try await queue.read { try Row.fetchAll($0, sql: "SELECT tile, level, idx FROM ledger_node_tiles") }
    #expect(rows.count == 296)  // the perfect subtrees of 300 leaves: 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1
    for row in rows {
      let id = NodeID(level: UInt8(row["level"] as Int64), index: UInt64(row["idx"] as Int64))
      #expect(row["tile"] as Int64 == NodeTile.of(id), "\(id)")
    }
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
    let proof = try await ledger.inclusionProof(index: 137, treeSize: 300, checkpointSize: 300)
    #expect(try ProofVerification.rootFromInclusionProof(index: 137, size: 300, leafHash: proof.leafHash, proof: proof.hashes) == proof.rootHash)
    _ = try await ledger.append([event(300)])
  }

  @Test func aLedgerWhoseStoredTreeWasAlteredRefusesToOpen() async throws {
    let (ledger, _) = try openLedger()
    try await fill(ledger, count: 8)
    try rawWrite("UPDATE ledger_node_tiles SET hash = zeroblob(32) WHERE level = 3")
    #expect(throws: LedgerError.self) { _ = try openLedger() }
  }

  @Test func aFailedCommitAcknowledgesNothingAndTheLedgerRecovers() async throws {
    let (ledger, _) = try openLedger()
    try await fill(ledger, count: 5)
    // A conflicting row makes the next batch's transaction fail as a whole.
    try rawWrite("INSERT INTO ledger_node_tiles (tile, level, idx, hash) VALUES (0, 1, 2, zeroblob(32))")
    await #expect(throws: LedgerError.self) { _ = try await ledger.append([self.event(5)]) }
    #expect(await ledger.size == 5)
    try rawWrite("DELETE FROM ledger_node_tiles WHERE level = 1 AND idx = 2")
    let receipts = try await ledger.append([event(5), event(6)])
    #expect(receipts.map(\.index) == [5, 6])
  }
}
