import CustosStore
import Logging
import ServiceLifecycle

/// Watches the shared database (PostgreSQL store): while it does not answer, `/healthz` and
/// `grpc.health.v1` report NOT_SERVING, so load balancers send callers to nodes that can record.
/// Each probe also brings the store's connection pool back when the database returns
/// (`PostgresStore.probe(within:)`), so a node serves again within about one interval of it.
struct DatabaseHealthService: Service {
  let store: PostgresStore
  let health: HealthService
  let interval: Duration
  let logger: Logger

  /// How long one probe waits for the database: the interval, at most the store's call timeout.
  var probeTimeout: Duration { min(interval, store.settings.callTimeout) }

  func run() async throws {
    var reachable = true
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      let answered: Bool
      do {
        try await store.probe(within: probeTimeout)
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
