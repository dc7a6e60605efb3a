import Logging
import PostgresNIO
import Synchronization

/// The scale-out store: one PostgreSQL database shared by every `custosd` node, migrated at open.
///
/// Domain modules never see this type's client; they use the storage protocols it implements. Calls
/// block their caller (the protocols are synchronous) while postgres-nio runs them on the bridge's
/// own threads; each call fails after `settings.callTimeout` rather than hang while the database is away.
public final class PostgresStore: Sendable {
  public let settings: PostgresSettings
  let client: PostgresClient
  let bridge = BlockingBridge()
  let logger: Logger
  private let runner: Mutex<Task<Void, Never>?>
  private let background = Mutex<[Task<Void, Never>]>([])
  private let inFlight = Atomic<Int>(0)

  /// Database calls running now, each holding one pooled connection (at most `settings.maximumConnections`).
  public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

  /// Connects, and runs pending migrations (one node at a time: they hold an advisory lock).
  public init(settings: PostgresSettings, logger: Logger = Logger(label: "custos.store.postgres")) throws(StoreError) {
    self.settings = settings
    self.logger = logger
    let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
    self.client = client
    runner = Mutex(bridge.start { await client.run() })
    do {
      try PostgresMigrations.migrate(self)
    } catch {
      shutdown()
      throw error
    }
  }

  deinit { shutdown() }

  /// Keeps `task` until shutdown, which cancels it.
  func addBackgroundTask(_ task: Task<Void, Never>) { background.withLock { $0.append(task) } }

  /// Closes the connections. Calls made afterwards fail.
  public func shutdown() {
    for task in background.withLock({ tasks in defer { tasks.removeAll() }; return tasks }) { task.cancel() }
    runner.withLock { task in
      task?.cancel()
      task = nil
    }
  }

  /// The ledger's storage in this database.
  public var ledgerStorage: PostgresLedgerStorage { PostgresLedgerStorage(store: self) }

  /// The key manager's storage in this database.
  public var keyStorage: PostgresKeyStorage { PostgresKeyStorage(store: self) }

  /// The witnesses' cosignatures, shared by every node.
  public var cosignatureStore: PostgresCosignatureStore { PostgresCosignatureStore(store: self) }

  /// The ledger's sealed signing key, shared by every node.
  public var ledgerSigningKeyStore: PostgresLedgerSigningKeyStore { PostgresLedgerSigningKeyStore(store: self) }

  /// The token authority's storage in this database.
  public var tokenStorage: PostgresTokenStorage { PostgresTokenStorage(store: self) }

  /// Where the sealed root key lives: this database, so every node unseals the same root key.
  public var sealedRootKeyStore: PostgresSealedRootKeyStore { PostgresSealedRootKeyStore(store: self) }

  /// Whether the database answers (a trivial query within the call timeout); throws if not.
  public func ping() throws {
    try execute("SELECT 1")
  }

  /// The applied migration identifiers, oldest first.
  public func appliedMigrations() throws -> [String] {
    try rows("SELECT id FROM custos_migrations ORDER BY applied_order").map { try $0.decode(String.self) }
  }

  /// Runs `work` with a pooled connection, waiting at most `settings.callTimeout`.
  func withConnection<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
    let client = self.client, timeout = settings.callTimeout, name = settings.description
    inFlight.add(1, ordering: .relaxed)
    defer { inFlight.subtract(1, ordering: .relaxed) }
    return try bridge.run {
      do {
        return try await Self.withTimeout(timeout, name) { try await client.withConnection { try await work($0) } }
      } catch {
        throw PostgresFailure.storeError(error, database: name)
      }
    }
  }

  private static func withTimeout<T: Sendable>(
    _ timeout: Duration, _ name: String, _ work: @escaping @Sendable () async throws -> T
  ) async throws -> T {
      try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
          try await Task.sleep(for: timeout)
          return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
          throw StoreError.unavailable(database: name, reason: "no answer within \(timeout)")
        }
        return value
      }
  }

  /// Runs `work` with a pooled connection like `withConnection`, answering its questions with
  /// `answer` on the calling thread (see `BlockingBridge.run(_:answering:)`).
  func withConnection<Question: Sendable, Answer: Sendable, T: Sendable>(
    _ work: @escaping @Sendable (PostgresConnection, _ ask: @escaping @Sendable (Question) async throws -> Answer) async throws -> T,
    answering answer: (Question) throws -> Answer
  ) throws -> T {
    let client = self.client, timeout = settings.callTimeout, name = settings.description
    inFlight.add(1, ordering: .relaxed)
    defer { inFlight.subtract(1, ordering: .relaxed) }
    return try bridge.run({ ask in
      do {
        return try await Self.withTimeout(timeout, name) { try await client.withConnection { try await work($0, ask) } }
      } catch {
        throw PostgresFailure.storeError(error, database: name)
      }
    }, answering: answer)
  }

  /// Runs `work` in one transaction (committed when it returns, rolled back when it throws).
  func transaction<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
    let logger = self.logger
    return try withConnection { connection in
      try await connection.withTransaction(logger: logger) { try await work($0) }
    }
  }

  /// The rows `query` returns.
  func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
    let logger = self.logger
    return try withConnection { connection in try await connection.query(query, logger: logger).collect() }
  }

  /// Runs `query` for its effect.
  func execute(_ query: PostgresQuery) throws {
    _ = try rows(query)
  }
}

extension PostgresConnection {
  /// The rows of `query`, collected.
  func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
    try await self.query(query, logger: logger).collect()
  }
}
