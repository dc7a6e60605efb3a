import CustosCrypto
import CustosLedger
import CustosStoreTestSupport
import Foundation
import GRDB
import Testing

@testable import CustosStore

/// What only the SQLite file has: its WAL, the node tiles it clusters proofs in, and the upgrades of
/// databases written by earlier versions. (PostgreSQL manages its own WAL and has no older layout.)
@Suite struct SQLiteInternalsTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  func openLedger(_ store: TestStore) throws -> (Ledger, SQLiteLedgerStorage) {
    let storage = try SQLiteStore(path: store.location).ledgerStorage
    return (try Ledger(storage: storage, signer: signer), storage)
  }

  func fill(_ ledger: Ledger, count: Int) async throws {
    for chunk in stride(from: 0, to: count, by: 10) {
      _ = try await ledger.append((chunk..<min(chunk + 10, count)).map { LedgerStoreTests.event($0) })
    }
  }

  /// Every commit is synced before it returns: the writer runs with `synchronous = FULL` (GRDB's pool
  /// turns it to NORMAL when it sets up WAL, which syncs only at checkpoints).
  @Test func theWriterSyncsEveryCommit() throws {
    let store = try TestStore(.sqlite)
    let sqlite = try SQLiteStore(path: store.location)
    #expect(try sqlite.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    #expect(try sqlite.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
  }

  /// The WAL is checkpointed in the background as the ledger writes: it is reused from its start
  /// instead of growing with everything written (SQLite's own checkpoint is held back to 64 MiB).
  @Test func theWALStaysSmallWhileTheLedgerGrows() async throws {
    let store = try TestStore(.sqlite)
    let path = store.location
    let (ledger, storage) = try openLedger(store)
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

  /// A database written before node tiles and stored tips opens with its nodes moved into tiles (the
  /// SQL computes the same tile as `NodeTile`) and its tip rebuilt from the tree, and verifies, proves
  /// and appends as before.
  @Test func anOlderDatabaseOpensWithTilesAndATip() async throws {
    let store = try TestStore(.sqlite)
    let tipBefore: LedgerTip?
    do {
      let (ledger, storage) = try openLedger(store)
      try await fill(ledger, count: 300)
      tipBefore = try storage.tip()
    }
    // Back to the v3 layout: nodes keyed by (level, idx) only, and no tip.
    try store.tamper("""
      CREATE TABLE ledger_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
      INSERT INTO ledger_nodes SELECT level, idx, hash FROM ledger_node_tiles;
      CREATE TRIGGER ledger_nodes_no_update BEFORE UPDATE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'append-only'); END;
      CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'append-only'); END;
      DROP TABLE ledger_node_tiles;
      DROP TABLE ledger_tip;
      DELETE FROM grdb_migrations WHERE identifier IN ('v4-ledger-node-tiles', 'v5-ledger-tip');
      """)
    let (ledger, storage) = try openLedger(store)
    #expect(try storage.tip() == tipBefore)
    let queue = try DatabaseQueue(path: store.location)
    let rows = try await queue.read { try Row.fetchAll($0, sql: "SELECT tile, level, idx FROM ledger_node_tiles") }
    #expect(rows.count == 296)  // the perfect subtrees of 300 leaves: 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1
    for row in rows {
      let id = NodeID(level: UInt8(row["level"] as Int64), index: UInt64(row["idx"] as Int64))
      #expect(row["tile"] as Int64 == NodeTile.of(id), "\(id)")
    }
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
    let proof = try await ledger.inclusionProof(index: 137, treeSize: 300, checkpointSize: 300)
    #expect(try ProofVerification.rootFromInclusionProof(index: 137, size: 300, leafHash: proof.leafHash, proof: proof.hashes) == proof.rootHash)
    _ = try await ledger.append([LedgerStoreTests.event(300)])
  }
}
