import GRDB
import GRDBSQLite

/// The embedded store: one SQLite database in WAL mode with `synchronous=FULL`, migrated at open.
///
/// Domain modules never see this type's database; they use the storage protocols it implements.
public final class SQLiteStore: Sendable {
  let pool: DatabasePool
  let checkpointer: WALCheckpointer

  /// Opens (creating if needed) the database at `path` and runs pending migrations.
  public init(path: String) throws(StoreError) {
    var configuration = Configuration()
    configuration.prepareDatabase { db in
      // Proofs and verification read scattered pages of a large file: map it (reads become memory
      // accesses instead of syscalls, and need no page cache). The cache then holds mostly the pages a
      // write changes; at 16 MiB per connection it was most of the daemon's own memory (a soak: 28 MiB
      // resident at 16 MiB, 12 MiB at 2 MiB).
      try db.execute(sql: "PRAGMA mmap_size = 2147418112")  // the most this SQLite build maps
      try db.execute(sql: "PRAGMA cache_size = -2048")
      // The ledger checkpoints the WAL in the background (WALCheckpointer); SQLite's own checkpoint,
      // run inside a commit, stays only as a bound for writes that are not the ledger's.
      try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
      // Trimmed and destroyed key versions are deleted: overwrite freed content instead of leaving the
      // wrapped bytes in free pages. The ledger never deletes, so this costs it nothing.
      try db.execute(sql: "PRAGMA secure_delete = ON")
    }
    configuration.busyMode = .timeout(5)
    do {
      pool = try DatabasePool(path: path, configuration: configuration)
      // FULL: a commit is on disk before it returns, so an acknowledged append survives power loss.
      // Set here, not in `prepareDatabase`: GRDB's pool sets `synchronous = NORMAL` on its writer when
      // it turns WAL on, after `prepareDatabase` ran (a commit would then return before the WAL is
      // synced: it survives a killed process, not a power loss). Only the writer commits.
      try pool.writeWithoutTransaction { db in
        try db.execute(sql: "PRAGMA synchronous = FULL")
        guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
          throw StoreError.cannotOpen(path: path, reason: "SQLite did not accept synchronous = FULL")
        }
      }
      try SQLiteMigrations.migrator.migrate(pool)
      checkpointer = try WALCheckpointer(path: path)
    } catch {
      throw .cannotOpen(path: path, reason: "\(error)")
    }
  }

  /// The ledger's storage in this database.
  public var ledgerStorage: SQLiteLedgerStorage { SQLiteLedgerStorage(pool: pool, checkpointer: checkpointer) }

  /// The ledger's sealed signing key in this database.
  public var ledgerSigningKeyStore: SQLiteLedgerSigningKeyStore { SQLiteLedgerSigningKeyStore(pool: pool) }

  /// The witnesses' cosignatures in this database.
  public var cosignatureStore: SQLiteCosignatureStore { SQLiteCosignatureStore(pool: pool) }

  /// The key manager's storage in this database.
  public var keyStorage: SQLiteKeyStorage { SQLiteKeyStorage(pool: pool) }

  /// The token authority's storage in this database.
  public var tokenStorage: SQLiteTokenStorage { SQLiteTokenStorage(pool: pool) }

  /// The memory SQLite holds in this process (page caches, schemas, prepared statements), in bytes.
  public static var memoryInUse: Int { Int(sqlite3_memory_used()) }

  /// The applied migration identifiers, oldest first.
  public func appliedMigrations() throws -> [String] {
    try pool.read { db in try SQLiteMigrations.migrator.appliedMigrations(db) }
  }
}
