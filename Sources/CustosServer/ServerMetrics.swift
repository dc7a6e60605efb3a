import CustosKeys
import CustosLedger
import CustosStore
import CustosTokens
import GRPCCore
import Prometheus
import Synchronization

/// What `/metrics` on the HTTP side port exposes, in the Prometheus text format: calls by method and
/// status, call latency, the ledger's size, whether the root key is unsealed and what the allocator
/// holds. No label ever holds a caller-supplied value other than the (fixed) method name.
final class ServerMetrics: Sendable {
  let registry: PrometheusCollectorRegistry
  private let ledgerEntries: Gauge
  private let unsealed: Gauge
  private let allocatorLive: Gauge
  private let allocatorFree: Gauge
  private let ledger: Ledger
  private let keys: KeyManager
  private let database: PostgresStore?
  private let databaseCalls: Gauge
  private let databaseConnections: Gauge
  private let databasePoolReplacements: Gauge
  private let throttle: AuthenticationThrottle
  private let throttledKeys: [AuthenticationThrottle.Scope: Gauge]
  private let refusedAttempts: [AuthenticationThrottle.Scope: Gauge]
  /// Every call's metrics, by method, made once: the registry's own lookup builds the metric's full
  /// name from its descriptor on every call, on every RPC's path.
  private let rpcMetrics = Mutex<[String: RPCMethodMetrics]>([:])

  init(registry: PrometheusCollectorRegistry, ledger: Ledger, keys: KeyManager, throttle: AuthenticationThrottle, database: PostgresStore? = nil) {
    self.registry = registry
    self.throttle = throttle
    let scopes: [AuthenticationThrottle.Scope] = [.clientID, .peer]
    throttledKeys = Dictionary(uniqueKeysWithValues: scopes.map { scope in
      (scope, registry.makeGauge(
        descriptor: .custos(
          "custos_token_throttled_keys",
          help: "Client ids and peer addresses whose IssueToken attempts are held back now after failed authentications."),
        labels: [("scope", scope.rawValue)]))
    })
    // A gauge fed from the throttle's own count (swift-prometheus counters cannot be set).
    refusedAttempts = Dictionary(uniqueKeysWithValues: scopes.map { scope in
      (scope, registry.makeGauge(
        descriptor: .custos(
          "custos_token_throttled_attempts",
          help: "IssueToken attempts refused with RESOURCE_EXHAUSTED since start, by the count that held them back."),
        labels: [("scope", scope.rawValue)]))
    })
    self.ledger = ledger
    self.keys = keys
    self.database = database
    databaseCalls = registry.makeGauge(
      descriptor: .custos("custos_database_calls_in_flight", help: "Database calls running now, each on one pooled connection (PostgreSQL store)."))
    databaseConnections = registry.makeGauge(
      descriptor: .custos("custos_database_connections_max", help: "The most pooled connections this node opens to the database (PostgreSQL store)."))
    databasePoolReplacements = registry.makeGauge(
      descriptor: .custos(
        "custos_database_pool_replacements",
        help: "Connection pools replaced since start because the database answered again while the pool still waited to reconnect (PostgreSQL store)."))
    ledgerEntries = registry.makeGauge(descriptor: .custos("custos_ledger_entries", help: "Entries in the audit ledger."))
    unsealed = registry.makeGauge(descriptor: .custos("custos_root_key_unsealed", help: "1 while the root key is unsealed, else 0."))
    allocatorLive = registry.makeGauge(
      descriptor: .custos("custos_allocator_live_bytes", help: "Bytes the C allocator has handed out and not had back (glibc; 0 elsewhere)."))
    allocatorFree = registry.makeGauge(
      descriptor: .custos(
        "custos_allocator_free_bytes",
        help: "Freed bytes the C allocator keeps in its arenas: resident memory that grows while live bytes do not is fragmentation, not a leak."))
  }

  func record(method: String, code: String, duration: Duration) {
    let (calls, time) = rpcMetrics.withLock { table -> (Counter, DurationHistogram) in
      if let metrics = table[method], let calls = metrics.calls[code] { return (calls, metrics.duration) }
      let time = table[method]?.duration ?? registry.makeDurationHistogram(
        descriptor: .custos("custos_rpc_duration_seconds", help: "Time to answer a gRPC call (until its response is ready)."),
        labels: [("method", method)],
        buckets: [.microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1)])
      let calls = registry.makeCounter(
        descriptor: .custos("custos_rpc_total", help: "gRPC calls answered, by method and status."), labels: [("method", method), ("code", code)])
      table[method, default: RPCMethodMetrics(duration: time)].calls[code] = calls
      return (calls, time)
    }
    calls.increment()
    time.record(duration)
  }

  /// One method's duration histogram and its call counters by status.
  private struct RPCMethodMetrics {
    let duration: DurationHistogram
    var calls: [String: Counter] = [:]
  }

  /// The text exposition, with the point-in-time gauges refreshed.
  func scrape() async -> [UInt8] {
    ledgerEntries.set(to: Double(await ledger.size))
    if let database {
      databaseCalls.set(to: Double(database.callsInFlight))
      databaseConnections.set(to: Double(database.settings.maximumConnections))
      databasePoolReplacements.set(to: Double(database.poolReplacements))
    }
    let now = AuthenticationThrottle.monotonicMilliseconds()
    for (scope, count) in throttle.throttledKeys(nowMilliseconds: now) { throttledKeys[scope]?.set(to: Double(count)) }
    let refused = throttle.refusedAttempts()
    for (scope, gauge) in refusedAttempts { gauge.set(to: Double(refused[scope] ?? 0)) }
    unsealed.set(to: { if case .unsealed = keys.status { return 1.0 } else { return 0.0 } }())
    let allocator = AllocatorStatistics.current()
    allocatorLive.set(to: Double(allocator.live))
    allocatorFree.set(to: Double(allocator.freeInArenas))
    return registry.emitToBuffer()
  }
}

/// Counts and times every call, by method and final status.
struct MetricsInterceptor: ServerInterceptor {
  let metrics: ServerMetrics

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>, context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let method = context.descriptor.fullyQualifiedMethod
    do {
      let response = try await next(request, context)
      let code: String
      switch response.accepted {
      case .success: code = "ok"
      case let .failure(error): code = "\(error.code)"
      }
      metrics.record(method: method, code: code, duration: ContinuousClock.now - start)
      return response
    } catch let error as RPCError {
      metrics.record(method: method, code: "\(error.code)", duration: ContinuousClock.now - start)
      throw error
    } catch {
      metrics.record(method: method, code: "unknown", duration: ContinuousClock.now - start)
      throw error
    }
  }
}

extension MetricNameDescriptor {
  /// A metric named whole: Custos's names carry their namespace and unit already.
  static func custos(_ name: String, help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
  }
}
