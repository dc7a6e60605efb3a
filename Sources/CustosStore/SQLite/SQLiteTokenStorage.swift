import CustosTokens
import Foundation
import GRDB

/// `TokenStorage` on SQLite.
public final class SQLiteTokenStorage: TokenStorage {
  let pool: DatabasePool

  init(pool: DatabasePool) { self.pool = pool }

  public func loadClients() throws -> [ServiceClient] {
    try pool.read { db in
      var secrets: [String: [ServiceClient.StoredSecret]] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT client_id, phc, expires_at FROM token_client_secrets ORDER BY rowid") {
        secrets[row["client_id"], default: []].append(.init(phc: row["phc"], expiresAt: row["expires_at"]))
      }
      return try Row.fetchAll(db, sql: "SELECT * FROM token_clients ORDER BY id").map { row in
        let id: String = row["id"]
        return ServiceClient(
          id: id, displayName: row["display_name"], roles: StoredList.decode(row["roles"]), audiences: StoredList.decode(row["audiences"]),
          tokenTTLSeconds: row["token_ttl_s"], secrets: secrets[id] ?? [], disabled: row["disabled"])
      }
    }
  }

  public func insertClient(_ client: ServiceClient) throws {
    try pool.write { db in
      try db.execute(
        sql: "INSERT INTO token_clients (id, display_name, roles, audiences, token_ttl_s, disabled) VALUES (?, ?, ?, ?, ?, ?)",
        arguments: [client.id, client.displayName, StoredList.encode(client.roles), StoredList.encode(client.audiences), client.tokenTTLSeconds, client.disabled])
      try Self.writeSecrets(client, db: db)
    }
  }

  public func updateClient(_ client: ServiceClient) throws {
    try pool.write { db in
      try db.execute(
        sql: "UPDATE token_clients SET display_name = ?, roles = ?, audiences = ?, token_ttl_s = ?, disabled = ? WHERE id = ?",
        arguments: [client.displayName, StoredList.encode(client.roles), StoredList.encode(client.audiences), client.tokenTTLSeconds, client.disabled, client.id])
      guard db.changesCount == 1 else { throw TokenError.invalidArgument("client \"\(client.id)\" is not stored") }
      try db.execute(sql: "DELETE FROM token_client_secrets WHERE client_id = ?", arguments: [client.id])
      try Self.writeSecrets(client, db: db)
    }
  }

  private static func writeSecrets(_ client: ServiceClient, db: Database) throws {
    for secret in client.secrets {
      try db.execute(
        sql: "INSERT INTO token_client_secrets (client_id, phc, expires_at) VALUES (?, ?, ?)",
        arguments: [client.id, secret.phc, secret.expiresAt])
    }
  }

  public func loadSigningKeys() throws -> [StoredSigningKey] {
    try pool.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM token_signing_keys ORDER BY activates_at").map { row in
        StoredSigningKey(
          kid: row["kid"], publicKey: [UInt8](row["public_key"] as Data), sealedPrivateKey: [UInt8](row["sealed_private_key"] as Data),
          publishedAt: row["published_at"], activatesAt: row["activates_at"], retiredAt: row["retired_at"])
      }
    }
  }

  public func insertSigningKey(_ key: StoredSigningKey, retiring: [String: Int64]) throws {
    try pool.write { db in
      for (kid, at) in retiring {
        try db.execute(sql: "UPDATE token_signing_keys SET retired_at = ? WHERE kid = ?", arguments: [at, kid])
      }
      try db.execute(
        sql: """
          INSERT INTO token_signing_keys (kid, public_key, sealed_private_key, published_at, activates_at, retired_at)
          VALUES (?, ?, ?, ?, ?, ?)
          """,
        arguments: [key.kid, Data(key.publicKey), Data(key.sealedPrivateKey), key.publishedAt, key.activatesAt, key.retiredAt])
    }
  }

  public func loadRevocations() throws -> [Revocation] {
    try pool.read { db in
      try Row.fetchAll(db, sql: "SELECT kind, value, revoked_at, expires_at FROM token_revocations").compactMap { row in
        guard let target = StoredRevocationTarget.decode(kind: row["kind"], value: row["value"]) else { return nil }
        return Revocation(target: target, revokedAt: row["revoked_at"], expiresAt: row["expires_at"])
      }
    }
  }

  public func insertRevocation(_ revocation: Revocation) throws {
    let (kind, value) = StoredRevocationTarget.encode(revocation.target)
    try pool.write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO token_revocations (kind, value, revoked_at, expires_at) VALUES (?, ?, ?, ?)",
        arguments: [kind, value, revocation.revokedAt, revocation.expiresAt])
    }
  }

  public func prune(revocationsExpiredBy now: Int64, signingKeysRetiredBefore: Int64) throws {
    try pool.write { db in
      try db.execute(sql: "DELETE FROM token_revocations WHERE expires_at <= ?", arguments: [now])
      try db.execute(sql: "DELETE FROM token_signing_keys WHERE retired_at IS NOT NULL AND retired_at <= ?", arguments: [signingKeysRetiredBefore])
    }
  }
}
