import CustosPolicy
import NIOCore
import PostgresNIO

/// `PolicySetStorage` on PostgreSQL: every set ever activated (by hash) and which one is active; an
/// activation is announced to every node.
public struct PostgresPolicySetStorage: PolicySetStorage {
  let store: PostgresStore

  public func activePolicySet() throws -> (hash: String, files: [(name: String, bytes: [UInt8])])? {
    guard let row = try store.rows("""
      SELECT s.hash, s.names, s.contents FROM policy_active a JOIN policy_sets s ON s.hash = a.hash WHERE a.id = 1
      """).first else { return nil }
    let (hash, names, contents) = try row.decode((String, [String], [ByteBuffer]).self)
    guard names.count == contents.count else { throw StoreError.refused(database: store.settings.description, reason: "policy set \(hash) is malformed") }
    return (hash, zip(names, contents).map { ($0, Array(buffer: $1)) })
  }

  public func activatePolicySet(hash: String, files: [(name: String, bytes: [UInt8])]) throws {
    let logger = store.logger
    let names = files.map(\.name), contents = files.map { ByteBuffer(bytes: $0.bytes) }
    try store.transaction(announcing: .policies) { connection in
      _ = try await connection.rows("""
        INSERT INTO policy_sets (hash, names, contents) VALUES (\(hash), \(names), \(contents)) ON CONFLICT (hash) DO NOTHING
        """, logger)
      _ = try await connection.rows("""
        INSERT INTO policy_active (id, hash, activated_at) VALUES (1, \(hash), now())
        ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, activated_at = excluded.activated_at
        """, logger)
    }
  }
}

extension PostgresStore {
  /// The policy set shared by the nodes.
  public var policySetStorage: PostgresPolicySetStorage { PostgresPolicySetStorage(store: self) }
}
