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
  let pool: ReplaceablePool
  let bridge = BlockingBridge()
  let logger: Logger
  private let background = Mutex<[Task<Void, Never>]>([])
  private let inFlight = Atomic<Int>(0)
  /// When a pooled call last got its answer (nanoseconds after `opened`).
  private let lastAnswered = Atomic<Int64>(0)
  private let opened = ContinuousClock.now

  /// Database calls running now, each holding one pooled connection (at most `settings.maximumConnections`).
  public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

  /// Connects, and runs pending migrations (one node at a time: they hold an advisory lock).
  public init(settings: PostgresSettings, logger: Logger = Logger(label: "custos.store.postgres")) throws(StoreError) {
    self.settings = settings
    self.logger = logger
    pool = ReplaceablePool(configuration: settings.clientConfiguration(), bridge: bridge, logger: logger)
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
    pool.shutdown()
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

  /// Asks the database a trivial query through the pool, waiting at most `timeout`; throws why it
  /// does not answer. Async: it blocks no thread, so it never queues behind calls blocked on an
  /// unreachable database. The health service calls it every second.
  public func ping(within timeout: Duration) async throws(StoreError) {
    let client = pool.client, logger = self.logger, name = settings.description
    do {
      _ = try await Self.withTimeout(timeout, name) { try await client.withConnection { try await $0.rows("SELECT 1", logger) } }
      noteAnswered()
    } catch {
      throw PostgresFailure.storeError(error, database: name) as? StoreError
        ?? .unavailable(database: name, reason: PostgresFailure.describe(error))
    }
  }

  /// Replaces the connection pool if it is stuck in its reconnection backoff (see `ReplaceablePool`):
  /// it has answered no call for `quiet`, yet the database answers a connection of this call's own
  /// within the call timeout. A pool that is merely busy still answers calls, so it is kept. Returns
  /// whether it replaced the pool; call it after a failed `ping(within:)`.
  public func replacePoolIfStuck(quiet: Duration) async -> Bool {
    let quietFor = Duration.nanoseconds(nanosecondsSinceOpened() - lastAnswered.load(ordering: .relaxed))
    guard quietFor > quiet else { return false }
    do {
      try await answerDirectly(within: settings.callTimeout)
    } catch {
      logger.debug("a connection of the store's own got no answer either", metadata: ["error": "\(error)"])
      return false
    }
    logger.notice(
      "the database answers, but the connection pool is still waiting to reconnect: starting a fresh pool",
      metadata: ["database": "\(settings.description)", "pool_quiet_for": "\(quietFor)"])
    pool.replace(grace: settings.callTimeout)
    return true
  }

  /// How many times `replacePoolIfStuck(quiet:)` replaced the pool since the store opened.
  public var poolReplacements: Int { pool.replacementCount }

  /// Connects outside the pool and asks a trivial query, within `timeout`; throws why not.
  func answerDirectly(within timeout: Duration) async throws {
    let settings = self.settings, logger = self.logger
    let configuration = try settings.connectionConfiguration(connectTimeout: timeout)
    try await Self.withTimeout(timeout, settings.description) {
      let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
      defer { Task { try? await connection.close() } }
      _ = try await connection.rows("SELECT 1", logger)
    }
  }

  private func nanosecondsSinceOpened() -> Int64 { TimeAmount(opened.duration(to: .now)).nanoseconds }

  private func noteAnswered() {
    lastAnswered.store(nanosecondsSinceOpened(), ordering: .relaxed)
  }

  /// `error` as the store reports it; a refusal is the database's answer, so the pool answered.
  private func failure(_ error: any Error, database name: String) -> any Error {
    let failure = PostgresFailure.storeError(error, database: name)
    if case .refused? = failure as? StoreError { noteAnswered() }
    return failure
  }

  /// The applied migration identifiers, oldest first.
  public func appliedMigrations() throws -> [String] {
    try rows("SELECT id FROM custos_migrations ORDER BY applied_order").map { try $0.decode(String.self) }
  }

  /// Runs `work` with a pooled connection, waiting at most `settings.callTimeout`.
  func withConnection<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
    let client = pool.client, timeout = settings.callTimeout, name = settings.description
    inFlight.add(1, ordering: .relaxed)
    defer { inFlight.subtract(1, ordering: .relaxed) }
    return try bridge.run {
      do {
        let value = try await Self.withTimeout(timeout, name) { try await client.withConnection { try await work($0) } }
        self.noteAnswered()
        return value
      } catch {
        throw self.failure(error, database: name)
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
    let client = pool.client, timeout = settings.callTimeout, name = settings.description
    inFlight.add(1, ordering: .relaxed)
    defer { inFlight.subtract(1, ordering: .relaxed) }
    return try bridge.run({ ask in
      do {
        let value = try await Self.withTimeout(timeout, name) { try await client.withConnection { try await work($0, ask) } }
        self.noteAnswered()
        return value
      } catch {
        throw self.failure(error, database: name)
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
