import CustosKeys
import NIOCore
import PostgresNIO

/// `KeyStorage` on PostgreSQL: keyrings and their wrapped versions, shared by every node.
public final class PostgresKeyStorage: KeyStorage {
  let store: PostgresStore

  init(store: PostgresStore) { self.store = store }

  public func rootKeyID() throws -> String? {
    try store.rows("SELECT value FROM key_meta WHERE name = 'root_key_id'").first?.decode(String.self)
  }

  public func setRootKeyID(_ id: String) throws {
    try store.execute(Self.upsertRootKeyID(id))
  }

  static func upsertRootKeyID(_ id: String) -> PostgresQuery {
    "INSERT INTO key_meta (name, value) VALUES ('root_key_id', \(id)) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
  }

  public func loadKeyrings() throws -> [KeyringRecord] {
    let logger = store.logger
    let (versionRows, keyringRows) = try store.transaction { connection in
      // One snapshot for both tables: a keyring rotated by another node meanwhile is seen whole or not at all.
      _ = try await connection.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger)
      let versions = try await connection.rows("""
        SELECT keyring, version, wrapped_key, created_at, usage_reserved, destroy_at, destroyed
        FROM keyring_versions ORDER BY keyring, version
        """, logger)
      let keyrings = try await connection.rows("""
        SELECT name, created_at, latest_version, min_decryption_version, min_available_version, rotation_period_s, destroy_at, destroyed
        FROM keyrings ORDER BY name
        """, logger)
      return (versions, keyrings)
    }
    var versions: [String: [KeyVersionRecord]] = [:]
    for row in versionRows {
      let (keyring, version, wrapped, createdAt, usage, destroyAt, destroyed) =
        try row.decode((String, Int64, ByteBuffer, Int64, Int64, Int64?, Bool).self)
      versions[keyring, default: []].append(KeyVersionRecord(
        version: UInt32(version), wrappedKey: Array(buffer: wrapped), createdAt: createdAt, usageReserved: UInt64(usage),
        destroyAt: destroyAt, destroyed: destroyed))
    }
    return try keyringRows.map { row in
      let (name, createdAt, latest, minDecryption, minAvailable, period, destroyAt, destroyed) =
        try row.decode((String, Int64, Int64, Int64, Int64, Int64, Int64?, Bool).self)
      return KeyringRecord(
        name: name, createdAt: createdAt, latestVersion: UInt32(latest), minDecryptionVersion: UInt32(minDecryption),
        minAvailableVersion: UInt32(minAvailable), rotationPeriodSeconds: period, destroyAt: destroyAt, destroyed: destroyed,
        versions: versions[name] ?? [])
    }
  }

  public func insertKeyring(_ keyring: KeyringRecord) throws {
    let logger = store.logger
    try store.transaction(announcing: .keys) { connection in
      try await Self.insert(keyring, connection, logger)
    }
  }

  static func insert(_ keyring: KeyringRecord, _ connection: PostgresConnection, _ logger: Logger) async throws {
    _ = try await connection.rows("""
      INSERT INTO keyrings (name, created_at, latest_version, min_decryption_version, min_available_version,
        rotation_period_s, destroy_at, destroyed)
      VALUES (\(keyring.name), \(keyring.createdAt), \(Int64(keyring.latestVersion)), \(Int64(keyring.minDecryptionVersion)),
        \(Int64(keyring.minAvailableVersion)), \(keyring.rotationPeriodSeconds), \(keyring.destroyAt), \(keyring.destroyed))
      """, logger)
    try await writeVersions(keyring, connection, logger)
  }

  public func updateKeyring(_ keyring: KeyringRecord) throws {
    let logger = store.logger
    try store.transaction(announcing: .keys) { connection in
      try await Self.update(keyring, connection, logger)
    }
  }

  public func reserveUsage(keyring: String, version: UInt32, count: UInt64, limit: UInt64) throws -> Range<UInt64> {
    let logger = store.logger
    return try store.transaction { connection in
      // The row lock makes the read and the raise one step for every node.
      let rows = try await connection.rows(
        "SELECT usage_reserved FROM keyring_versions WHERE keyring = \(keyring) AND version = \(Int64(version)) FOR UPDATE", logger)
      guard let old = try rows.first?.decode(Int64.self) else { throw KeyError.storage("keyring \"\(keyring)\" version \(version) is not stored") }
      let taken = UsageBlock.next(after: UInt64(old), count: count, limit: limit)
      _ = try await connection.rows(
        "UPDATE keyring_versions SET usage_reserved = \(Int64(taken.upperBound)) WHERE keyring = \(keyring) AND version = \(Int64(version))", logger)
      return taken
    }
  }

  public func replaceWrappedKeys(_ keyrings: [KeyringRecord], rootKeyID: String) throws {
    let logger = store.logger
    try store.transaction(announcing: .keys) { connection in
      for keyring in keyrings { try await Self.update(keyring, connection, logger) }
      _ = try await connection.rows(Self.upsertRootKeyID(rootKeyID), logger)
    }
  }

  private static func update(_ keyring: KeyringRecord, _ connection: PostgresConnection, _ logger: Logger) async throws {
    let updated = try await connection.rows("""
      UPDATE keyrings SET created_at = \(keyring.createdAt), latest_version = \(Int64(keyring.latestVersion)),
        min_decryption_version = \(Int64(keyring.minDecryptionVersion)), min_available_version = \(Int64(keyring.minAvailableVersion)),
        rotation_period_s = \(keyring.rotationPeriodSeconds), destroy_at = \(keyring.destroyAt), destroyed = \(keyring.destroyed)
      WHERE name = \(keyring.name) RETURNING name
      """, logger)
    guard updated.count == 1 else { throw KeyError.storage("keyring \"\(keyring.name)\" is not stored") }
    let kept = keyring.versions.map { Int64($0.version) }
    _ = try await connection.rows("DELETE FROM keyring_versions WHERE keyring = \(keyring.name) AND NOT (version = ANY(\(kept)))", logger)
    try await writeVersions(keyring, connection, logger)
  }

  /// Upserts versions; a usage reservation is never lowered (a concurrent reservation may be newer).
  private static func writeVersions(_ keyring: KeyringRecord, _ connection: PostgresConnection, _ logger: Logger) async throws {
    for version in keyring.versions {
      _ = try await connection.rows("""
        INSERT INTO keyring_versions (keyring, version, wrapped_key, created_at, usage_reserved, destroy_at, destroyed)
        VALUES (\(keyring.name), \(Int64(version.version)), \(ByteBuffer(bytes: version.wrappedKey)), \(version.createdAt),
          \(Int64(version.usageReserved)), \(version.destroyAt), \(version.destroyed))
        ON CONFLICT (keyring, version) DO UPDATE SET wrapped_key = excluded.wrapped_key,
          usage_reserved = GREATEST(keyring_versions.usage_reserved, excluded.usage_reserved),
          destroy_at = excluded.destroy_at, destroyed = excluded.destroyed
        """, logger)
    }
  }
}
