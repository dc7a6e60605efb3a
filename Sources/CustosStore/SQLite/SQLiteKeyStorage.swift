import CustosKeys
import Foundation
import GRDB

/// `KeyStorage` on SQLite: keyrings and their wrapped versions, and the id of the root key that wraps them.
public final class SQLiteKeyStorage: KeyStorage {
  let pool: DatabasePool

  init(pool: DatabasePool) { self.pool = pool }

  public func rootKeyID() throws -> String? {
    try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM key_meta WHERE name = 'root_key_id'") }
  }

  public func setRootKeyID(_ id: String) throws {
    try pool.write { db in
      try db.execute(sql: "INSERT OR REPLACE INTO key_meta (name, value) VALUES ('root_key_id', ?)", arguments: [id])
    }
  }

  public func loadKeyrings() throws -> [KeyringRecord] {
    try pool.read { db in
      var versions: [String: [KeyVersionRecord]] = [:]
      for row in try Row.fetchAll(db, sql: """
        SELECT keyring, version, wrapped_key, created_at, usage_reserved, destroy_at, destroyed
        FROM keyring_versions ORDER BY keyring, version
        """)
      {
        versions[row["keyring"], default: []].append(KeyVersionRecord(
          version: UInt32(row["version"] as Int64), wrappedKey: [UInt8](row["wrapped_key"] as Data),
          createdAt: row["created_at"], usageReserved: UInt64(row["usage_reserved"] as Int64),
          destroyAt: row["destroy_at"], destroyed: row["destroyed"]))
      }
      return try Row.fetchAll(db, sql: "SELECT * FROM keyrings ORDER BY name").map { row in
        let name: String = row["name"]
        return KeyringRecord(
          name: name, createdAt: row["created_at"], latestVersion: UInt32(row["latest_version"] as Int64),
          minDecryptionVersion: UInt32(row["min_decryption_version"] as Int64),
          minAvailableVersion: UInt32(row["min_available_version"] as Int64),
          rotationPeriodSeconds: row["rotation_period_s"], destroyAt: row["destroy_at"], destroyed: row["destroyed"],
          versions: versions[name] ?? [])
      }
    }
  }

  public func insertKeyring(_ keyring: KeyringRecord) throws {
    try pool.write { db in
      try db.execute(sql: """
        INSERT INTO keyrings (name, created_at, latest_version, min_decryption_version, min_available_version,
          rotation_period_s, destroy_at, destroyed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """, arguments: Self.keyringArguments(keyring))
      try Self.writeVersions(keyring, db: db)
    }
  }

  public func updateKeyring(_ keyring: KeyringRecord) throws {
    try pool.write { db in try Self.update(keyring, db: db) }
  }

  public func reserveUsage(keyring: String, version: UInt32, count: UInt64, limit: UInt64) throws -> Range<UInt64> {
    try pool.write { db in
      guard let old = try Int64.fetchOne(
        db, sql: "SELECT usage_reserved FROM keyring_versions WHERE keyring = ? AND version = ?", arguments: [keyring, Int64(version)])
      else { throw KeyError.storage("keyring \"\(keyring)\" version \(version) is not stored") }
      let taken = UsageBlock.next(after: UInt64(old), count: count, limit: limit)
      try db.execute(
        sql: "UPDATE keyring_versions SET usage_reserved = ? WHERE keyring = ? AND version = ?",
        arguments: [Int64(taken.upperBound), keyring, Int64(version)])
      return taken
    }
  }

  public func replaceWrappedKeys(_ keyrings: [KeyringRecord], rootKeyID: String) throws {
    try pool.write { db in
      for keyring in keyrings { try Self.update(keyring, db: db) }
      try db.execute(sql: "INSERT OR REPLACE INTO key_meta (name, value) VALUES ('root_key_id', ?)", arguments: [rootKeyID])
    }
  }

  private static func update(_ keyring: KeyringRecord, db: Database) throws {
    var arguments = keyringArguments(keyring)
    _ = arguments.append(contentsOf: [keyring.name])
    try db.execute(sql: """
      UPDATE keyrings SET name = ?, created_at = ?, latest_version = ?, min_decryption_version = ?,
        min_available_version = ?, rotation_period_s = ?, destroy_at = ?, destroyed = ? WHERE name = ?
      """, arguments: arguments)
    guard db.changesCount == 1 else { throw KeyError.storage("keyring \"\(keyring.name)\" is not stored") }
    let kept = keyring.versions.map { Int64($0.version) }
    let present = try Int64.fetchAll(db, sql: "SELECT version FROM keyring_versions WHERE keyring = ?", arguments: [keyring.name])
    for version in present where !kept.contains(version) {
      try db.execute(sql: "DELETE FROM keyring_versions WHERE keyring = ? AND version = ?", arguments: [keyring.name, version])
    }
    try writeVersions(keyring, db: db)
  }

  /// Upserts versions; a usage reservation is never lowered (a concurrent reservation may be newer).
  private static func writeVersions(_ keyring: KeyringRecord, db: Database) throws {
    let statement = try db.cachedStatement(sql: """
      INSERT INTO keyring_versions (keyring, version, wrapped_key, created_at, usage_reserved, destroy_at, destroyed)
      VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (keyring, version) DO UPDATE SET wrapped_key = excluded.wrapped_key,
        usage_reserved = MAX(usage_reserved, excluded.usage_reserved), destroy_at = excluded.destroy_at,
        destroyed = excluded.destroyed
      """)
    for version in keyring.versions {
      try statement.execute(arguments: [
        keyring.name, Int64(version.version), Data(version.wrappedKey), version.createdAt, Int64(version.usageReserved),
        version.destroyAt, version.destroyed,
      ])
    }
  }

  private static func keyringArguments(_ keyring: KeyringRecord) -> StatementArguments {
    [
      keyring.name, keyring.createdAt, Int64(keyring.latestVersion), Int64(keyring.minDecryptionVersion),
      Int64(keyring.minAvailableVersion), keyring.rotationPeriodSeconds, keyring.destroyAt, keyring.destroyed,
    ]
  }
}
