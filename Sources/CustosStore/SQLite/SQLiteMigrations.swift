import GRDB

/// Versioned schema changes, applied in order at start. Never edit a shipped migration: add a new one.
enum SQLiteMigrations {
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    // Filter columns are indexed by a 64-bit key (FilterKey) rather than the text: integer index entries
    // are a fraction of the size, which is most of the cost of an append. Time needs no index at all:
    // it never decreases along the log, so a time bound is found by bisecting the primary key.
    migrator.registerMigration("v1-ledger") { db in
      try db.execute(sql: """
        CREATE TABLE ledger_entries (
          idx INTEGER PRIMARY KEY,
          canonical BLOB NOT NULL,
          leaf_hash BLOB NOT NULL,
          time INTEGER NOT NULL,
          kind TEXT NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          resource TEXT NOT NULL,
          outcome TEXT NOT NULL,
          kind_key INTEGER NOT NULL,
          actor_key INTEGER NOT NULL,
          action_key INTEGER NOT NULL,
          resource_key INTEGER NOT NULL,
          outcome_key INTEGER NOT NULL
        );
        CREATE INDEX ledger_entries_kind ON ledger_entries(kind_key, idx);
        CREATE INDEX ledger_entries_actor ON ledger_entries(actor_key, idx);
        CREATE INDEX ledger_entries_action ON ledger_entries(action_key, idx);
        CREATE INDEX ledger_entries_resource ON ledger_entries(resource_key, idx);
        CREATE INDEX ledger_entries_outcome ON ledger_entries(outcome_key, idx);
        CREATE TABLE ledger_nodes (
          level INTEGER NOT NULL,
          idx INTEGER NOT NULL,
          hash BLOB NOT NULL,
          PRIMARY KEY (level, idx)
        ) WITHOUT ROWID;
        CREATE TABLE ledger_checkpoints (
          size INTEGER PRIMARY KEY,
          root_hash BLOB NOT NULL,
          note TEXT NOT NULL
        );
        """)
      // The ledger is append-only: refuse updates and deletes at the storage level too.
      for table in ["ledger_entries", "ledger_nodes", "ledger_checkpoints"] {
        try db.execute(sql: appendOnlyTriggers(table))
      }
    }
    // Keyring keys are stored wrapped by the root key; the root key itself is never in the database,
    // only its public id (to tell which sealed file the wrapped keys belong to).
    migrator.registerMigration("v2-keys") { db in
      try db.execute(sql: """
        CREATE TABLE key_meta (
          name TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE keyrings (
          name TEXT PRIMARY KEY,
          created_at INTEGER NOT NULL,
          latest_version INTEGER NOT NULL,
          min_decryption_version INTEGER NOT NULL,
          min_available_version INTEGER NOT NULL,
          rotation_period_s INTEGER NOT NULL,
          destroy_at INTEGER,
          destroyed INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE keyring_versions (
          keyring TEXT NOT NULL REFERENCES keyrings(name),
          version INTEGER NOT NULL,
          wrapped_key BLOB NOT NULL,
          created_at INTEGER NOT NULL,
          usage_reserved INTEGER NOT NULL,
          destroy_at INTEGER,
          destroyed INTEGER NOT NULL,
          PRIMARY KEY (keyring, version)
        ) WITHOUT ROWID;
        """)
    }
    // Service clients (secrets only as Argon2id PHC strings), token signing keys (private halves sealed by
    // the root key), and revocations until the tokens they cover would have expired anyway.
    migrator.registerMigration("v3-tokens") { db in
      try db.execute(sql: """
        CREATE TABLE token_clients (
          id TEXT PRIMARY KEY,
          display_name TEXT NOT NULL,
          roles TEXT NOT NULL,
          audiences TEXT NOT NULL,
          token_ttl_s INTEGER NOT NULL,
          disabled INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE token_client_secrets (
          client_id TEXT NOT NULL REFERENCES token_clients(id),
          phc TEXT NOT NULL,
          expires_at INTEGER
        );
        CREATE INDEX token_client_secrets_client ON token_client_secrets(client_id);
        CREATE TABLE token_signing_keys (
          kid TEXT PRIMARY KEY,
          public_key BLOB NOT NULL,
          sealed_private_key BLOB NOT NULL,
          published_at INTEGER NOT NULL,
          activates_at INTEGER NOT NULL,
          retired_at INTEGER
        ) WITHOUT ROWID;
        CREATE TABLE token_revocations (
          kind TEXT NOT NULL,
          value TEXT NOT NULL,
          revoked_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        """)
    }
    // Merkle nodes clustered by tile (NodeTile): a proof at 10M entries read one page per level below
    // the in-memory cache, six random reads when the file is not all in the page cache.
    migrator.registerMigration("v4-ledger-node-tiles") { db in
      try db.execute(sql: """
        CREATE TABLE ledger_node_tiles (
          tile INTEGER NOT NULL,
          level INTEGER NOT NULL,
          idx INTEGER NOT NULL,
          hash BLOB NOT NULL,
          PRIMARY KEY (tile, level, idx)
        ) WITHOUT ROWID;
        INSERT INTO ledger_node_tiles (tile, level, idx, hash)
          SELECT idx >> (6 * ((level - 1) / 6 + 1) - level), level, idx, hash FROM ledger_nodes ORDER BY 1, 2, 3;
        DROP TRIGGER ledger_nodes_no_update;
        DROP TRIGGER ledger_nodes_no_delete;
        DROP TABLE ledger_nodes;
        """)
      try db.execute(sql: appendOnlyTriggers("ledger_node_tiles"))
    }
    // The log's tip in one row, written with every batch: a writer extends the log from it under the
    // write lock without reading the tree (the PostgreSQL store has the same row, shared by every node).
    migrator.registerMigration("v5-ledger-tip") { db in
      try db.execute(sql: """
        CREATE TABLE ledger_tip (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          size INTEGER NOT NULL,
          range_hashes BLOB NOT NULL,
          last_leaf_hash BLOB NOT NULL,
          last_time INTEGER NOT NULL,
          checkpoint_note TEXT NOT NULL
        );
        """)
      if let tip = try SQLiteLedgerStorage.tipFromTree(db) { try SQLiteLedgerStorage.writeTip(tip, db) }
    }
    // The ledger's checkpoint key, sealed under the root key (it was a plain file in keys/ before).
    migrator.registerMigration("v6-ledger-signing-key") { db in
      try db.execute(sql: """
        CREATE TABLE ledger_signing_key (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          public_key BLOB NOT NULL CHECK (length(public_key) = 32),
          sealed_private_key BLOB NOT NULL
        );
        """)
    }
    // Idempotency keys, kept in the transaction of the entries their request recorded.
    migrator.registerMigration("v7-idempotency-keys") { db in
      try db.execute(sql: """
        CREATE TABLE idempotency_keys (
          caller TEXT NOT NULL,
          key TEXT NOT NULL,
          fingerprint BLOB NOT NULL,
          response BLOB NOT NULL,
          expires_at INTEGER NOT NULL,
          first_index INTEGER NOT NULL,
          entry_count INTEGER NOT NULL,
          PRIMARY KEY (caller, key)
        ) WITHOUT ROWID;
        CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
        """)
    }
    // Witness cosignatures of checkpoints, served again after a restart.
    migrator.registerMigration("v8-witness-cosignatures") { db in
      try db.execute(sql: """
        CREATE TABLE witness_cosignatures (
          size INTEGER NOT NULL,
          witness TEXT NOT NULL,
          line TEXT NOT NULL,
          PRIMARY KEY (size, witness)
        ) WITHOUT ROWID;
        """)
    }
    return migrator
  }

  /// Triggers that refuse updates and deletes of `table`: the ledger is append-only at the storage
  /// level too. (Shipped migrations use it: what it returns must not change.)
  static func appendOnlyTriggers(_ table: String) -> String {
    """
    CREATE TRIGGER \(table)_no_update BEFORE UPDATE ON \(table)
      BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
    CREATE TRIGGER \(table)_no_delete BEFORE DELETE ON \(table)
      BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
    """
  }
}
