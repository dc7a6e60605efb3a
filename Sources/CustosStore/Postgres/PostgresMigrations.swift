import PostgresNIO

/// Versioned schema changes for the PostgreSQL store, applied in order at start under an advisory lock
/// (nodes starting together migrate once). Never edit a shipped migration: add a new one.
enum PostgresMigrations {
  struct Migration {
    var id: String
    var statements: [String]
  }

  /// Any number: the advisory lock every node takes while it migrates.
  static let lockKey: Int64 = 0x4375_7374_6f73  // "Custos"

  static let all: [Migration] = [
    Migration(id: "v1-ledger", statements: [
      """
      CREATE TABLE ledger_entries (
        idx bigint PRIMARY KEY, canonical bytea NOT NULL, leaf_hash bytea NOT NULL, time bigint NOT NULL,
        kind text NOT NULL, actor text NOT NULL, action text NOT NULL, resource text NOT NULL, outcome text NOT NULL)
      """,
      "CREATE INDEX ledger_entries_kind ON ledger_entries (kind, idx)",
      "CREATE INDEX ledger_entries_actor ON ledger_entries (actor, idx)",
      "CREATE INDEX ledger_entries_action ON ledger_entries (action, idx)",
      "CREATE INDEX ledger_entries_resource ON ledger_entries (resource, idx)",
      "CREATE INDEX ledger_entries_outcome ON ledger_entries (outcome, idx)",
      // Time never decreases along the log: this index maps a time bound to an index bound.
      "CREATE INDEX ledger_entries_time ON ledger_entries (time, idx)",
      "CREATE TABLE ledger_nodes (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))",
      "CREATE TABLE ledger_checkpoints (size bigint PRIMARY KEY, root_hash bytea NOT NULL, note text NOT NULL)",
      // The one row every node's batch locks (SELECT ... FOR UPDATE): the log's tip.
      """
      CREATE TABLE ledger_tip (
        id integer PRIMARY KEY CHECK (id = 1), size bigint NOT NULL, range_hashes bytea NOT NULL,
        last_leaf_hash bytea NOT NULL, last_time bigint NOT NULL, checkpoint_note text NOT NULL)
      """,
      "INSERT INTO ledger_tip VALUES (1, 0, '', '', 0, '')",
      """
      CREATE FUNCTION custos_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the audit ledger is append-only'; END $$
      """,
    ] + ["ledger_entries", "ledger_nodes", "ledger_checkpoints"].flatMap { table in
      [
        "CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table) FOR EACH ROW EXECUTE FUNCTION custos_refuse_change()",
        "CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_change()",
      ]
    }),
    // Keyring keys wrapped by the root key; the sealed root key itself (so every node unseals the same one).
    Migration(id: "v2-keys", statements: [
      "CREATE TABLE key_meta (name text PRIMARY KEY, value text NOT NULL)",
      """
      CREATE TABLE keyrings (
        name text PRIMARY KEY, created_at bigint NOT NULL, latest_version bigint NOT NULL,
        min_decryption_version bigint NOT NULL, min_available_version bigint NOT NULL, rotation_period_s bigint NOT NULL,
        destroy_at bigint, destroyed boolean NOT NULL)
      """,
      """
      CREATE TABLE keyring_versions (
        keyring text NOT NULL REFERENCES keyrings(name), version bigint NOT NULL, wrapped_key bytea NOT NULL,
        created_at bigint NOT NULL, usage_reserved bigint NOT NULL, destroy_at bigint, destroyed boolean NOT NULL,
        PRIMARY KEY (keyring, version))
      """,
      "CREATE TABLE root_key_sealed (slot text PRIMARY KEY CHECK (slot IN ('current', 'next')), sealed bytea NOT NULL)",
    ]),
    Migration(id: "v3-tokens", statements: [
      """
      CREATE TABLE token_clients (
        id text PRIMARY KEY, display_name text NOT NULL, roles text NOT NULL, audiences text NOT NULL,
        token_ttl_s bigint NOT NULL, disabled boolean NOT NULL)
      """,
      """
      CREATE TABLE token_client_secrets (
        seq bigserial PRIMARY KEY, client_id text NOT NULL REFERENCES token_clients(id), phc text NOT NULL, expires_at bigint)
      """,
      "CREATE INDEX token_client_secrets_client ON token_client_secrets (client_id)",
      """
      CREATE TABLE token_signing_keys (
        kid text PRIMARY KEY, public_key bytea NOT NULL, sealed_private_key bytea NOT NULL, published_at bigint NOT NULL,
        activates_at bigint NOT NULL, retired_at bigint)
      """,
      """
      CREATE TABLE token_revocations (
        kind text NOT NULL, value text NOT NULL, revoked_at bigint NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (kind, value))
      """,
    ]),
    // The policy set every node decides with: each set pushed (by hash, never changed) and the active one.
    Migration(id: "v4-policies", statements: [
      "CREATE TABLE policy_sets (hash text PRIMARY KEY, names text[] NOT NULL, contents bytea[] NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())",
      "CREATE TABLE policy_active (id integer PRIMARY KEY CHECK (id = 1), hash text NOT NULL REFERENCES policy_sets(hash), activated_at timestamptz NOT NULL)",
    ]),
    // The ledger's checkpoint key every node signs with, sealed under the root key.
    Migration(id: "v5-ledger-signing-key", statements: [
      """
      CREATE TABLE ledger_signing_key (
        id integer PRIMARY KEY CHECK (id = 1), public_key bytea NOT NULL CHECK (length(public_key) = 32), sealed_private_key bytea NOT NULL)
      """,
    ]),
    // Idempotency keys, written by the statement that writes their request's entries.
    Migration(id: "v6-idempotency-keys", statements: [
      """
      CREATE TABLE idempotency_keys (
        caller text NOT NULL, key text NOT NULL, fingerprint bytea NOT NULL, response bytea NOT NULL, expires_at bigint NOT NULL,
        first_index bigint NOT NULL, entry_count integer NOT NULL, PRIMARY KEY (caller, key))
      """,
      "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)",
    ]),
    // Witness cosignatures of checkpoints, shared by every node.
    Migration(id: "v7-witness-cosignatures", statements: [
      "CREATE TABLE witness_cosignatures (size bigint NOT NULL, witness text NOT NULL, line text NOT NULL, PRIMARY KEY (size, witness))",
    ]),
    // How a batch is written: one call, one round trip (see `PostgresLedgerStorage.WriteBatch`).
    Migration(id: "v8-write-batch", statements: [PostgresLedgerStorage.WriteBatch.function]),
  ]

  /// Applies what is pending; refuses a database that a newer binary migrated.
  static func migrate(_ store: PostgresStore) throws(StoreError) {
    let name = store.settings.description
    let logger = store.logger
    do {
      try store.transaction { connection in
        _ = try await connection.rows("SELECT pg_advisory_xact_lock(\(lockKey))", logger)
        _ = try await connection.rows(
          "CREATE TABLE IF NOT EXISTS custos_migrations (id text PRIMARY KEY, applied_order serial NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
          logger)
        var applied: [String] = []
        for row in try await connection.rows("SELECT id FROM custos_migrations ORDER BY applied_order", logger) {
          applied.append(try row.decode(String.self))
        }
        let known = Set(all.map(\.id))
        let unknown = applied.filter { !known.contains($0) }
        guard unknown.isEmpty else { throw StoreError.schemaNewer(database: name, unknown: unknown) }
        for migration in all where !applied.contains(migration.id) {
          for statement in migration.statements {
            _ = try await connection.rows(PostgresQuery(unsafeSQL: statement), logger)
          }
          _ = try await connection.rows("INSERT INTO custos_migrations (id) VALUES (\(migration.id))", logger)
        }
      }
    } catch let error as StoreError {
      throw error
    } catch {
      throw .unavailable(database: name, reason: "\(error)")
    }
  }
}
