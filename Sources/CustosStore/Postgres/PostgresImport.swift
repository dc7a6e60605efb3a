import CustosCrypto
import CustosLedger
import NIOCore
import PostgresNIO

extension PostgresStore {
  /// Copies a single-node deployment — its SQLite store (ledger entries, Merkle nodes, checkpoints,
  /// keyrings wrapped as they are, clients, token signing keys, revocations) and its sealed root key —
  /// into this database, in one transaction: all or nothing. The database must hold no deployment yet.
  /// Returns the number of ledger entries copied; `progress(copied, total)` follows the entries. The
  /// caller verifies the copy (`LedgerVerifier`) before it reports success.
  public func importDeployment(
    from source: SQLiteStore, sealedRootKey: (current: [UInt8]?, next: [UInt8]?),
    progress: @escaping @Sendable (UInt64, UInt64) -> Void
  ) throws -> UInt64 {
    let logger = self.logger, name = settings.description
    let ledger = source.ledgerStorage, keys = source.keyStorage, tokens = source.tokenStorage
    return try transaction { connection in
      // Nothing may start writing while the copy runs (the write gate, as the locking path takes it, then
      // the tip row); then the target must be empty.
      _ = try await connection.rows("SELECT pg_advisory_xact_lock(\(PostgresMigrations.writeGateKey))", logger)
      _ = try await connection.rows("SELECT size FROM ledger_tip WHERE id = 1 FOR UPDATE", logger)
      let holding = try await connection.rows("""
        SELECT (SELECT size FROM ledger_tip WHERE id = 1) > 0 OR EXISTS (SELECT 1 FROM keyrings) OR EXISTS (SELECT 1 FROM key_meta)
          OR EXISTS (SELECT 1 FROM token_clients) OR EXISTS (SELECT 1 FROM token_signing_keys) OR EXISTS (SELECT 1 FROM root_key_sealed)
          OR EXISTS (SELECT 1 FROM ledger_signing_key)
        """, logger)
      guard try holding.first?.decode(Bool.self) == false else {
        throw StoreError.refused(database: name, reason: "the target database already holds a deployment: migrate only into an empty one")
      }
      let tip = try ledger.tip()
      let size = tip?.size ?? 0
      var range = CompactRange()
      var lower: UInt64 = 0
      while lower < size {
        let upper = min(size, lower + 4096)
        var entries: [StoredEntry] = []
        try ledger.forEachEntry(in: lower..<upper) { entries.append($0); return true }
        guard entries.count == Int(upper - lower), entries.first?.index == lower, entries.last?.index == upper - 1 else {
          throw StoreError.refused(database: name, reason: "the source ledger is missing entries between \(lower) and \(upper): verify it first")
        }
        var nodes: [(NodeID, SHA256Digest)] = []
        for entry in entries { range.append(leaf: entry.leafHash) { nodes.append(($0, $1)) } }
        _ = try await connection.rows(Self.insertEntries(entries), logger)
        _ = try await connection.rows(
          """
          INSERT INTO ledger_nodes (level, idx, hash)
          SELECT * FROM unnest(\(nodes.map { Int16($0.0.level) })::smallint[], \(nodes.map { Int64($0.0.index) })::bigint[],
            \(nodes.map { ByteBuffer(bytes: $0.1.bytes) })::bytea[])
          """, logger)
        progress(upper, size)
        lower = upper
      }
      if let tip {
        let checkpoints = try ledger.checkpoints(sizes: 1...size)
        _ = try await connection.rows(
          """
          INSERT INTO ledger_checkpoints (size, root_hash, note)
          SELECT * FROM unnest(\(checkpoints.map { Int64($0.checkpoint.size) })::bigint[],
            \(checkpoints.map { ByteBuffer(bytes: $0.checkpoint.rootHash.bytes) })::bytea[], \(checkpoints.map(\.note))::text[])
          """, logger)
        let columns = StoredTipColumns(tip)
        _ = try await connection.rows(
          """
          UPDATE ledger_tip SET size = \(columns.size), range_hashes = \(ByteBuffer(bytes: columns.rangeHashes)),
            last_leaf_hash = \(ByteBuffer(bytes: columns.lastLeafHash)), last_time = \(columns.lastTime),
            checkpoint_note = \(columns.checkpointNote) WHERE id = 1
          """, logger)
      }
      if let rootKeyID = try keys.rootKeyID() { _ = try await connection.rows(PostgresKeyStorage.upsertRootKeyID(rootKeyID), logger) }
      for keyring in try keys.loadKeyrings() { try await PostgresKeyStorage.insert(keyring, connection, logger) }
      for client in try tokens.loadClients() { try await PostgresTokenStorage.insert(client, connection, logger) }
      for key in try tokens.loadSigningKeys() { try await PostgresTokenStorage.insert(key, connection, logger) }
      for revocation in try tokens.loadRevocations() { try await PostgresTokenStorage.insert(revocation, connection, logger) }
      for (slot, sealed) in [("current", sealedRootKey.current), ("next", sealedRootKey.next)] {
        guard let sealed else { continue }
        _ = try await connection.rows("INSERT INTO root_key_sealed (slot, sealed) VALUES (\(slot), \(ByteBuffer(bytes: sealed)))", logger)
      }
      if let key = try source.ledgerSigningKeyStore.storedSigningKey() {
        _ = try await connection.rows("""
          INSERT INTO ledger_signing_key (id, public_key, sealed_private_key)
          VALUES (1, \(ByteBuffer(bytes: key.publicKey)), \(ByteBuffer(bytes: key.sealedPrivateKey)))
          """, logger)
      }
      return size
    }
  }

  private static func insertEntries(_ entries: [StoredEntry]) -> PostgresQuery {
    var binds = PostgresBindings(capacity: 9)
    PostgresLedgerStorage.appendEntryColumns(entries, to: &binds)
    return PostgresQuery(unsafeSQL: PostgresLedgerStorage.insertEntriesSQL, binds: binds)
  }
}
