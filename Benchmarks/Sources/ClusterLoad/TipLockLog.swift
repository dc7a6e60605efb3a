import Foundation

/// The tip row's hold as the server sees it: a trigger notes when each batch's transaction updated
/// the tip (after the update, so the row is held), and the commit's own timestamp
/// (`track_commit_timestamp`, which `scripts/test-postgres.sh` turns on) ends the first part of the
/// hold. The server stamps a commit before it flushes the WAL and releases the row after, so the hold
/// is that part plus the flush, whose mean time `pg_stat_wal` gives (`track_wal_io_timing`). The
/// trigger's own insert runs inside the hold; a network round trip is not in it.
enum TipLockLog {
  static func install(url: String, password: String) async throws {
    try psql(url, password, """
      SET client_min_messages = warning;
      CREATE TABLE bench_tip_locks (xact xid NOT NULL, locked_at timestamptz NOT NULL);
      CREATE FUNCTION bench_note_tip_lock() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO bench_tip_locks VALUES (pg_current_xact_id()::text::xid, clock_timestamp());
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_tip_lock AFTER UPDATE ON ledger_tip FOR EACH ROW EXECUTE FUNCTION bench_note_tip_lock();
      """)
  }

  /// WAL flushes so far, and the milliseconds they took (the whole server).
  static func walSyncs(url: String, password: String) throws -> (count: Double, milliseconds: Double) {
    let line = try psql(url, password, "SELECT pg_stat_force_next_flush(); SELECT wal_sync || ' ' || wal_sync_time FROM pg_stat_wal")
    let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    guard fields.count >= 2 else { throw Refusal(description: "pg_stat_wal answered \(line)") }
    return (fields[fields.count - 2], fields[fields.count - 1])
  }

  /// Every noted batch's hold up to its commit's timestamp, shortest first. Fails if the server does not keep commit timestamps.
  static func holds(url: String, password: String) async throws -> [Duration] {
    let tracked = try psql(url, password, "SHOW track_commit_timestamp")
    guard tracked == "on" else {
      throw Refusal(description: "the server keeps no commit timestamps: restart it with scripts/test-postgres.sh (track_commit_timestamp=on)")
    }
    let lines = try psql(url, password, """
      SELECT (extract(epoch FROM pg_xact_commit_timestamp(xact) - locked_at) * 1000000)::bigint FROM bench_tip_locks
      """)
    return lines.split(separator: "\n").compactMap { Int64($0) }.map { Duration.microseconds($0) }.sorted()
  }

  struct Refusal: Error, CustomStringConvertible { let description: String }

  @discardableResult
  private static func psql(_ url: String, _ password: String, _ sql: String) throws -> String {
    try ClusterLoad.shell("/usr/bin/env", "PGPASSWORD=\(password)", "psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
  }
}
