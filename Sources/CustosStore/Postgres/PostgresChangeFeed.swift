import Dispatch
import Logging
import PostgresNIO

/// What changed in the shared state, as nodes tell each other with PostgreSQL's NOTIFY on the channel
/// `custos_changes` (sent in the transaction that makes the change, so delivered only once committed).
public enum SharedStateChange: String, Sendable {
  case keys
  case tokens
  case policies
  /// Notifications may have been missed (the listening connection was lost): reload everything.
  case all
}

extension PostgresStore {
  static let changeChannel = "custos_changes"

  /// Calls `handler` (off the store's threads) for every change another node — or this one — commits,
  /// until the store shuts down. Listens on one pooled connection; when it is lost, it listens again
  /// and reports `.all`, since changes made meanwhile were not announced.
  public func onSharedStateChange(_ handler: @escaping @Sendable (SharedStateChange) -> Void) {
    let pool = self.pool, logger = self.logger
    let task = bridge.start {
      var first = true
      while !Task.isCancelled {
        do {
          // The pool as it is now: a replaced pool closes this connection, and the next listens on the fresh one.
          try await pool.client.withConnection { connection in
            try await connection.listen(on: Self.changeChannel) { notifications in
              if !first { DispatchQueue.global().async { handler(.all) } }
              first = false
              for try await notification in notifications {
                let change = SharedStateChange(rawValue: notification.payload) ?? .all
                DispatchQueue.global().async { handler(change) }
              }
            }
          }
        } catch {
          logger.warning("listening for shared-state changes failed; listening again", metadata: ["error": "\(PostgresFailure.describe(error))"])
        }
        first = false
        try? await Task.sleep(for: .milliseconds(500))
      }
    }
    addBackgroundTask(task)
  }
}

extension PostgresStore {
  /// Runs `work` in one transaction that ends by announcing `change` to every node (delivered only if
  /// the transaction commits).
  func transaction<T: Sendable>(
    announcing change: SharedStateChange, _ work: @escaping @Sendable (PostgresConnection) async throws -> T
  ) throws -> T {
    let logger = self.logger
    return try transaction { connection in
      let result = try await work(connection)
      _ = try await connection.rows("SELECT pg_notify(\(Self.changeChannel), \(change.rawValue))", logger)
      return result
    }
  }
}
