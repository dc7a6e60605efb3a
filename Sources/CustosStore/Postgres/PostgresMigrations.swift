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
  /// The advisory lock a batch's one-call write holds shared and the locking path exclusively
  /// (`PostgresLedgerStorage.gateKey`). Never change it: migration v8's function holds the value.
  static let writeGateKey: Int64 = 0x4375_7374_6f74  // "Custot"

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
    // How a node writes a batch (`PostgresLedgerStorage.WriteBatch`): one call, one round trip. The rows
    // first, then the tip row, updated only if it still holds the tip the batch was built on
    // (`on_tip`), so the row every node waits for is held from that update to the commit. Losing is
    // answered, not raised: a raised error would put the whole statement into the server's log on every
    // lost race. The `EXCEPTION` block undoes what the lost attempt inserted (a subtransaction), and the
    // tip is read afresh (each statement of a volatile function sees what committed before it: here,
    // the winner's batch). The gate: see `writeGateKey`.
    Migration(id: "v8-write-batch", statements: [
      """
      CREATE FUNCTION custos_write_batch(
        e_idx bigint[], e_canonical bytea[], e_leaf bytea[], e_time bigint[], e_kind text[], e_actor text[], e_action text[],
        e_resource text[], e_outcome text[], n_level smallint[], n_idx bigint[], n_hash bytea[], c_size bigint, c_root bytea,
        c_note text, t_size bigint, t_range bytea, t_last bytea, t_time bigint, t_note text, k_caller text[], k_key text[],
        k_fingerprint bytea[], k_response bytea[], k_expires bigint[], k_first bigint[], k_count integer[],
        on_tip boolean, x_size bigint, x_last bytea, x_note text)
      RETURNS TABLE (is_written boolean, rows_us bigint, waited_us bigint, now_size bigint, now_range bytea, now_last bytea,
        now_time bigint, now_note text)
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        rows_at timestamptz;
        locked_at timestamptz;
      BEGIN
        IF on_tip THEN
          PERFORM pg_advisory_xact_lock_shared(\(writeGateKey));
        END IF;
        BEGIN
          INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome)
            SELECT * FROM unnest(e_idx, e_canonical, e_leaf, e_time, e_kind, e_actor, e_action, e_resource, e_outcome);
          INSERT INTO ledger_nodes (level, idx, hash) SELECT * FROM unnest(n_level, n_idx, n_hash);
          INSERT INTO ledger_checkpoints (size, root_hash, note) VALUES (c_size, c_root, c_note);
          INSERT INTO idempotency_keys (caller, key, fingerprint, response, expires_at, first_index, entry_count)
            SELECT * FROM unnest(k_caller, k_key, k_fingerprint, k_response, k_expires, k_first, k_count)
            ON CONFLICT (caller, key) DO UPDATE SET fingerprint = excluded.fingerprint, response = excluded.response,
              expires_at = excluded.expires_at, first_index = excluded.first_index, entry_count = excluded.entry_count;
          rows_at := clock_timestamp();
          UPDATE ledger_tip t SET size = t_size, range_hashes = t_range, last_leaf_hash = t_last, last_time = t_time,
            checkpoint_note = t_note
          WHERE t.id = 1 AND (NOT on_tip OR (t.size = x_size AND t.last_leaf_hash = x_last AND t.checkpoint_note = x_note));
          IF NOT FOUND THEN
            RAISE EXCEPTION 'the ledger tip moved' USING ERRCODE = 'serialization_failure';
          END IF;
          locked_at := clock_timestamp();
        EXCEPTION WHEN unique_violation OR serialization_failure THEN
          IF NOT on_tip THEN
            RAISE;
          END IF;
          RETURN QUERY SELECT false, 0::bigint, 0::bigint, t.size, t.range_hashes, t.last_leaf_hash, t.last_time, t.checkpoint_note
            FROM ledger_tip t WHERE t.id = 1;
          RETURN;
        END;
        RETURN QUERY SELECT true, (EXTRACT(EPOCH FROM rows_at - statement_timestamp()) * 1000000)::bigint,
          (EXTRACT(EPOCH FROM locked_at - rows_at) * 1000000)::bigint, NULL::bigint, NULL::bytea, NULL::bytea, NULL::bigint, NULL::text;
      END $$
      """,
    ]),
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
