import CustosStore
import Logging
import ServiceLifecycle

/// Watches the shared database (PostgreSQL store): while it does not answer, `/healthz` and
/// `grpc.health.v1` report NOT_SERVING, so load balancers send callers to nodes that can record.
/// After a failed ping it also brings the store's connection pool back if the database has returned
/// while the pool still waits to reconnect (`PostgresStore.replacePoolIfStuck(quiet:)`), so a node
/// serves again within a few seconds of its database, however long the outage.
struct DatabaseHealthService: Service {
  let store: PostgresStore
  let health: HealthService
  let interval: Duration
  let logger: Logger

  /// How long one ping waits for the database: at most the store's call timeout, and at least 2 s so a
  /// busy machine's slow answer is not taken for an outage.
  var pingTimeout: Duration { min(max(interval, .seconds(2)), store.settings.callTimeout) }

  func run() async throws {
    var reachable = true
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      var answered = await ping(reporting: reachable)
      if !answered {
        health.setAllServing(false)
        // Only a pool that has answered nothing for two pings' time is replaced, never a busy one.
        if await store.replacePoolIfStuck(quiet: pingTimeout * 2) { answered = await ping(reporting: false) }
      }
      if answered && !reachable { logger.notice("the database answers again: SERVING") }
      reachable = answered
      health.setAllServing(answered)
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }

  private func ping(reporting firstFailure: Bool) async -> Bool {
    do {
      try await store.ping(within: pingTimeout)
      return true
    } catch {
      if firstFailure { logger.error("the database does not answer: NOT_SERVING until it does", metadata: ["error": "\(error)"]) }
      return false
    }
  }
}
