import Foundation

/// The tip row's hold as the server sees it, from two benchmark-only triggers on `ledger_tip`: one
/// notes when a batch's `UPDATE` asks for the row (before the statement locks anything), the other when
/// it has the row and has updated it.
///
/// - **At a handoff** — a batch that asked for the row before the batch updating it just before had
///   even stamped its commit, so it waited for that batch's release — the earlier batch held the row
///   from its own update until this one had it: commit, WAL flush and the waiter's wake-up included,
///   network not. (A batch on the locking path took the row earlier, at its `SELECT ... FOR UPDATE`,
///   so its hold is undercounted; one batch in ten at three nodes.)
/// - **Every batch**: from its update to its commit's timestamp (`track_commit_timestamp`, which
///   `scripts/test-postgres.sh` turns on). The server stamps a commit before it flushes the WAL and
///   releases the row after, so this misses the flush, whose mean `pg_stat_wal` gives
///   (`track_wal_io_timing`).
///
/// The triggers' own work runs inside the hold.
enum TipLockLog {
  static func install(url: String, password: String) async throws {
    try psql(url, password, """
      SET client_min_messages = warning;
      CREATE TABLE bench_tip_locks (xact xid NOT NULL, asked_at timestamptz NOT NULL, locked_at timestamptz NOT NULL);
      CREATE FUNCTION bench_note_tip_asked() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM set_config('bench.tip_asked', clock_timestamp()::text, true);
        RETURN NULL;
      END $$;
      CREATE FUNCTION bench_note_tip_locked() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO bench_tip_locks VALUES (pg_current_xact_id()::text::xid, current_setting('bench.tip_asked')::timestamptz, clock_timestamp());
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_tip_asked BEFORE UPDATE ON ledger_tip FOR EACH STATEMENT EXECUTE FUNCTION bench_note_tip_asked();
      CREATE TRIGGER bench_tip_locked AFTER UPDATE ON ledger_tip FOR EACH ROW EXECUTE FUNCTION bench_note_tip_locked();
      """)
  }

  /// WAL flushes so far, and the milliseconds they took (the whole server).
  static func walSyncs(url: String, password: String) throws -> (count: Double, milliseconds: Double) {
    let line = try psql(url, password, "SELECT pg_stat_force_next_flush(); SELECT wal_sync || ' ' || wal_sync_time FROM pg_stat_wal")
    let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    guard fields.count >= 2 else { throw Refusal(description: "pg_stat_wal answered \(line)") }
    return (fields[fields.count - 2], fields[fields.count - 1])
  }

  /// The holds measured, each shortest first.
  struct Holds {
    /// Exact, for the batches whose successor waited for the row.
    var atHandoffs: [Duration]
    /// From every batch's update to its commit's timestamp (the WAL flush not included).
    var toCommitStamp: [Duration]
  }

  /// Fails if the server does not keep commit timestamps.
  static func holds(url: String, password: String) async throws -> Holds {
    let tracked = try psql(url, password, "SHOW track_commit_timestamp")
    guard tracked == "on" else {
      throw Refusal(description: "the server keeps no commit timestamps: restart it with scripts/test-postgres.sh (track_commit_timestamp=on)")
    }
    func microseconds(_ interval: String) -> String { "(extract(epoch FROM \(interval)) * 1000000)::bigint" }
    let lines = try psql(url, password, """
      WITH stamped AS (SELECT asked_at, locked_at, pg_xact_commit_timestamp(xact) AS committed FROM bench_tip_locks)
      SELECT (asked_at < lag(committed) OVER w)::int || ' ' || coalesce(\(microseconds("locked_at - lag(locked_at) OVER w")), -1)
        || ' ' || \(microseconds("committed - locked_at"))
      FROM stamped WINDOW w AS (ORDER BY locked_at) ORDER BY locked_at
      """)
    var holds = Holds(atHandoffs: [], toCommitStamp: [])
    for line in lines.split(separator: "\n") {
      let fields = line.split(separator: " ").compactMap { Int64($0) }
      guard fields.count == 3 else { continue }
      let (waited, sincePrevious, toStamp) = (fields[0] == 1, fields[1], Duration.microseconds(fields[2]))
      if waited, sincePrevious >= 0 { holds.atHandoffs.append(.microseconds(sincePrevious)) }
      holds.toCommitStamp.append(toStamp)
    }
    holds.atHandoffs.sort()
    holds.toCommitStamp.sort()
    return holds
  }

  struct Refusal: Error, CustomStringConvertible { let description: String }

  @discardableResult
  private static func psql(_ url: String, _ password: String, _ sql: String) throws -> String {
    try ClusterLoad.shell("/usr/bin/env", "PGPASSWORD=\(password)", "psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
  }
}
