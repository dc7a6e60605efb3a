import CustosKeys
import CustosStore
import Foundation
import GRDB

/// The stores every storage test runs against.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
  case sqlite
  case postgres

  public var description: String { rawValue }
}

/// An empty database of one kind for one test: opened (and reopened) like a node would, and changed
/// behind the store's back (append-only guards off) for tamper tests.
public final class TestStore: Sendable {
  public let kind: StoreKind
  /// The SQLite file, or the PostgreSQL database's URL.
  public let location: String

  public init(_ kind: StoreKind) throws {
    self.kind = kind
    switch kind {
    case .sqlite:
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-store-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      location = directory.appendingPathComponent("custos.sqlite").path
    case .postgres:
      location = try TestPostgresServer.freshDatabaseURL()
    }
  }

  /// Opens the store, running migrations: each call is a new handle on the same database, as a
  /// restarted node or another node would open it.
  public func open() throws -> any Store {
    switch kind {
    case .sqlite: return try SQLiteStore(path: location)
    case .postgres: return try PostgresStore(settings: try PostgresSettings(url: location, password: TestPostgresServer.password))
    }
  }

  /// Where this deployment keeps its sealed root key: files beside the SQLite database, or the
  /// PostgreSQL database itself.
  public func sealedRootKeyStore() throws -> any SealedRootKeyStore {
    switch kind {
    case .sqlite: return try SealedRootKeyFiles(directory: (location as NSString).deletingLastPathComponent + "/keys")
    case .postgres: return try PostgresStore(settings: try PostgresSettings(url: location, password: TestPostgresServer.password)).sealedRootKeyStore
    }
  }

  /// The table holding interior Merkle nodes.
  public var nodesTable: String { kind == .sqlite ? "ledger_node_tiles" : "ledger_nodes" }

  /// `bytes` as a SQL literal of this dialect.
  public func blob(_ bytes: [UInt8]) -> String {
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    return kind == .sqlite ? "X'\(hex)'" : "'\\x\(hex)'::bytea"
  }

  /// Runs `sql` with the ledger's append-only guards off, as an attacker with database access could.
  public func tamper(_ sql: String) throws {
    let tables = ["ledger_entries", nodesTable, "ledger_checkpoints"]
    switch kind {
    case .sqlite:
      var script = tables.map { "DROP TRIGGER IF EXISTS \($0)_no_update; DROP TRIGGER IF EXISTS \($0)_no_delete;" }.joined()
      script += sql
      try Self.sqlite(location).writeWithoutTransaction { try $0.execute(sql: script) }
    case .postgres:
      let off = tables.map { "ALTER TABLE \($0) DISABLE TRIGGER USER;" }.joined()
      let on = tables.map { "ALTER TABLE \($0) ENABLE TRIGGER USER;" }.joined()
      try TestPostgresServer.psql(location, "BEGIN;" + off + sql + ";" + on + "COMMIT;")
    }
  }

  /// A connection that waits for the store's own (a background WAL checkpoint) instead of failing at once.
  private static func sqlite(_ path: String) throws -> DatabaseQueue {
    var configuration = Configuration()
    configuration.busyMode = .timeout(10)
    return try DatabaseQueue(path: path, configuration: configuration)
  }

  /// Runs `sql` as an ordinary client would (guards on).
  public func execute(_ sql: String) throws {
    switch kind {
    case .sqlite: try Self.sqlite(location).write { try $0.execute(sql: sql) }
    case .postgres: try TestPostgresServer.psql(location, sql)
    }
  }
}
