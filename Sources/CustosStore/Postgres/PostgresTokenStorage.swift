import CustosTokens
import NIOCore
import PostgresNIO

/// `TokenStorage` on PostgreSQL, shared by every node.
public final class PostgresTokenStorage: TokenStorage {
  let store: PostgresStore

  init(store: PostgresStore) { self.store = store }

  public func loadClients() throws -> [ServiceClient] {
    let logger = store.logger
    let (secretRows, clientRows) = try store.transaction { connection in
      _ = try await connection.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger)
      let secrets = try await connection.rows("SELECT client_id, phc, expires_at FROM token_client_secrets ORDER BY seq", logger)
      let clients = try await connection.rows(
        "SELECT id, display_name, roles, audiences, token_ttl_s, disabled FROM token_clients ORDER BY id", logger)
      return (secrets, clients)
    }
    var secrets: [String: [ServiceClient.StoredSecret]] = [:]
    for row in secretRows {
      let (client, phc, expiresAt) = try row.decode((String, String, Int64?).self)
      secrets[client, default: []].append(.init(phc: phc, expiresAt: expiresAt))
    }
    return try clientRows.map { row in
      let (id, name, roles, audiences, ttl, disabled) = try row.decode((String, String, String, String, Int64, Bool).self)
      return ServiceClient(
        id: id, displayName: name, roles: StoredList.decode(roles), audiences: StoredList.decode(audiences), tokenTTLSeconds: ttl,
        secrets: secrets[id] ?? [], disabled: disabled)
    }
  }

  public func insertClient(_ client: ServiceClient) throws {
    let logger = store.logger
    try store.transaction(announcing: .tokens) { connection in
      try await Self.insert(client, connection, logger)
    }
  }

  static func insert(_ client: ServiceClient, _ connection: PostgresConnection, _ logger: Logger) async throws {
    _ = try await connection.rows("""
      INSERT INTO token_clients (id, display_name, roles, audiences, token_ttl_s, disabled)
      VALUES (\(client.id), \(client.displayName), \(StoredList.encode(client.roles)), \(StoredList.encode(client.audiences)),
        \(client.tokenTTLSeconds), \(client.disabled))
      """, logger)
    try await writeSecrets(client, connection, logger)
  }

  public func updateClient(_ client: ServiceClient) throws {
    let logger = store.logger
    try store.transaction(announcing: .tokens) { connection in
      let updated = try await connection.rows("""
        UPDATE token_clients SET display_name = \(client.displayName), roles = \(StoredList.encode(client.roles)),
          audiences = \(StoredList.encode(client.audiences)), token_ttl_s = \(client.tokenTTLSeconds), disabled = \(client.disabled)
        WHERE id = \(client.id) RETURNING id
        """, logger)
      guard updated.count == 1 else { throw TokenError.invalidArgument("client \"\(client.id)\" is not stored") }
      _ = try await connection.rows("DELETE FROM token_client_secrets WHERE client_id = \(client.id)", logger)
      try await Self.writeSecrets(client, connection, logger)
    }
  }

  private static func writeSecrets(_ client: ServiceClient, _ connection: PostgresConnection, _ logger: Logger) async throws {
    for secret in client.secrets {
      _ = try await connection.rows(
        "INSERT INTO token_client_secrets (client_id, phc, expires_at) VALUES (\(client.id), \(secret.phc), \(secret.expiresAt))", logger)
    }
  }

  public func loadSigningKeys() throws -> [StoredSigningKey] {
    try store.rows("""
      SELECT kid, public_key, sealed_private_key, published_at, activates_at, retired_at FROM token_signing_keys ORDER BY activates_at
      """
    ).map { row in
      let (kid, publicKey, sealed, published, activates, retired) = try row.decode((String, ByteBuffer, ByteBuffer, Int64, Int64, Int64?).self)
      return StoredSigningKey(
        kid: kid, publicKey: Array(buffer: publicKey), sealedPrivateKey: Array(buffer: sealed), publishedAt: published,
        activatesAt: activates, retiredAt: retired)
    }
  }

  public func insertSigningKey(_ key: StoredSigningKey, retiring: [String: Int64]) throws {
    let logger = store.logger
    try store.transaction(announcing: .tokens) { connection in
      for (kid, at) in retiring {
        _ = try await connection.rows("UPDATE token_signing_keys SET retired_at = \(at) WHERE kid = \(kid)", logger)
      }
      try await Self.insert(key, connection, logger)
    }
  }

  static func insert(_ key: StoredSigningKey, _ connection: PostgresConnection, _ logger: Logger) async throws {
    _ = try await connection.rows("""
      INSERT INTO token_signing_keys (kid, public_key, sealed_private_key, published_at, activates_at, retired_at)
      VALUES (\(key.kid), \(ByteBuffer(bytes: key.publicKey)), \(ByteBuffer(bytes: key.sealedPrivateKey)), \(key.publishedAt),
        \(key.activatesAt), \(key.retiredAt))
      """, logger)
  }

  public func loadRevocations() throws -> [Revocation] {
    try store.rows("SELECT kind, value, revoked_at, expires_at FROM token_revocations").compactMap { row in
      let (kind, value, revokedAt, expiresAt) = try row.decode((String, String, Int64, Int64).self)
      guard let target = StoredRevocationTarget.decode(kind: kind, value: value) else { return nil }
      return Revocation(target: target, revokedAt: revokedAt, expiresAt: expiresAt)
    }
  }

  public func insertRevocation(_ revocation: Revocation) throws {
    let logger = store.logger
    try store.transaction(announcing: .tokens) { connection in
      try await Self.insert(revocation, connection, logger)
    }
  }

  static func insert(_ revocation: Revocation, _ connection: PostgresConnection, _ logger: Logger) async throws {
    let (kind, value) = StoredRevocationTarget.encode(revocation.target)
    _ = try await connection.rows("""
      INSERT INTO token_revocations (kind, value, revoked_at, expires_at) VALUES (\(kind), \(value), \(revocation.revokedAt), \(revocation.expiresAt))
      ON CONFLICT (kind, value) DO UPDATE SET revoked_at = excluded.revoked_at, expires_at = excluded.expires_at
      """, logger)
  }

  public func prune(revocationsExpiredBy now: Int64, signingKeysRetiredBefore: Int64) throws {
    let logger = store.logger
    try store.transaction { connection in
      _ = try await connection.rows("DELETE FROM token_revocations WHERE expires_at <= \(now)", logger)
      _ = try await connection.rows(
        "DELETE FROM token_signing_keys WHERE retired_at IS NOT NULL AND retired_at <= \(signingKeysRetiredBefore)", logger)
    }
  }
}
