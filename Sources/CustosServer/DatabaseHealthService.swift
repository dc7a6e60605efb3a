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
