import Logging
import PostgresNIO
import Synchronization

/// The store's connection pool, which can be swapped for a fresh one.
///
/// postgres-nio's pool retries a lost database with a backoff that grows to 60 s and cannot be reset,
/// so after a long outage a node would wait up to a minute past the database's return before it
/// serves again. `PostgresStore.replacePoolIfStuck(quiet:)` replaces the pool instead, once the database answers a
/// connection of its own while the pool still gives none.
final class ReplaceablePool: Sendable {
  private struct State {
    var client: PostgresClient
    var runner: Task<Void, Never>?
    /// Pools replaced but still finishing the calls they had leased, until their deadline (each
    /// retirement removes itself when done).
    var retiring: [Int: Task<Void, Never>] = [:]
  }

  private let configuration: PostgresClient.Configuration
  private let bridge: BlockingBridge
  private let logger: Logger
  private let state: Mutex<State>
  private let replacements = Atomic<Int>(0)

  init(configuration: PostgresClient.Configuration, bridge: BlockingBridge, logger: Logger) {
    self.configuration = configuration
    self.bridge = bridge
    self.logger = logger
    let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    state = Mutex(State(client: client, runner: bridge.start { await client.run() }))
  }

  /// The pool new calls lease from.
  var client: PostgresClient { state.withLock { $0.client } }

  /// How many times the pool was replaced since the store opened.
  var replacementCount: Int { replacements.load(ordering: .relaxed) }

  /// Starts a fresh pool for new calls; the old one keeps the calls it leased for `grace` (a call
  /// ends within its timeout), then closes.
  func replace(grace: Duration) {
    let fresh = PostgresClient(configuration: configuration, backgroundLogger: logger)
    let freshRunner = bridge.start { await fresh.run() }
    state.withLock { state in
      guard let old = state.runner else {
        freshRunner.cancel()
        return
      }
      state.client = fresh
      state.runner = freshRunner
      let id = replacements.add(1, ordering: .relaxed).newValue
      state.retiring[id] = bridge.start { [weak self] in
        try? await Task.sleep(for: grace)
        old.cancel()
        _ = self?.state.withLock { $0.retiring.removeValue(forKey: id) }
      }
    }
  }

  /// Closes every pool; calls made afterwards fail.
  func shutdown() {
    let tasks = state.withLock { state in
      defer {
        state.runner = nil
        state.retiring.removeAll()
      }
      return [state.runner].compactMap { $0 } + Array(state.retiring.values)
    }
    for task in tasks { task.cancel() }
  }
}
