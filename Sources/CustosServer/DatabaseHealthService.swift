import CustosStore
import Logging
import ServiceLifecycle

/// Watches the shared database (PostgreSQL store): while it does not answer, `/healthz` and
/// `grpc.health.v1` report NOT_SERVING, so load balancers send callers to nodes that can record.
struct DatabaseHealthService: Service {
  let store: PostgresStore
  let health: HealthService
  let interval: Duration
  let logger: Logger

  func run() async throws {
    var reachable = true
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      let store = self.store
      let answered: Bool
      do {
        try await BlockingWork.run { try store.ping() }
        answered = true
      } catch {
        answered = false
        if reachable { logger.error("the database does not answer: NOT_SERVING until it does", metadata: ["error": "\(error)"]) }
      }
      if answered && !reachable { logger.notice("the database answers again: SERVING") }
      reachable = answered
      health.setAllServing(answered)
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }
}
