import CustosProtocol
import GRPCCore
import Synchronization

/// The standard `grpc.health.v1.Health` service. The empty service name stands for the whole server.
final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private let statuses: Mutex<[String: Status]>
  private let broadcast: Broadcast
  /// Set at shutdown: nothing serves again.
  private let stopped = Mutex(false)

  init(services: [String]) {
    var initial: [String: Status] = ["": .serving]
    for name in services { initial[name] = .serving }
    statuses = Mutex(initial)
    broadcast = Broadcast()
  }

  /// Marks every service as not serving (on shutdown), tells watchers, then ends their streams so
  /// graceful shutdown does not wait on them forever.
  func markAllNotServing() {
    stopped.withLock { $0 = true }
    statuses.withLock { all in for key in all.keys { all[key] = .notServing } }
    broadcast.signal()
    broadcast.finish()
  }

  /// Marks every service serving or not (the database came or went), telling watchers when it changes.
  /// After shutdown nothing serves again.
  func setAllServing(_ serving: Bool) {
    let status: Status = serving && !stopped.withLock({ $0 }) ? .serving : .notServing
    let changed = statuses.withLock { all -> Bool in
      let changed = all[""] != status
      for key in all.keys { all[key] = status }
      return changed
    }
    if changed { broadcast.signal() }
  }

  /// The status of `service` ("" for the whole server), or nil when it is unknown.
  func status(of service: String) -> Status? { statuses.withLock { $0[service] } }

  func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard let status = status(of: request.service) else {
      throw RPCError(code: .notFound, message: "unknown service \"\(request.service)\"")
    }
    return .with { $0.status = status }
  }

  func list(request: Grpc_Health_V1_HealthListRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthListResponse {
    let all = statuses.withLock { $0 }
    return .with { response in
      for (name, status) in all { response.statuses[name] = .with { $0.status = status } }
    }
  }

  func watch(request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext) async throws {
    var last: Status?
    for await _ in broadcast.subscribe() {
      let status = statuses.withLock { $0[request.service] } ?? .serviceUnknown
      if status != last {
        try await response.write(.with { $0.status = status })
        last = status
      }
    }
  }
}

/// Wakes every subscriber when something changed; each subscription starts with one wake-up.
final class Broadcast: Sendable {
  /// Nil once finished: a subscription made after that ends after its first wake-up, so a watch
  /// that arrives during shutdown cannot hold the shutdown up.
  private let subscribers = Mutex<[Int: AsyncStream<Void>.Continuation]?>([:])
  private let nextID = Atomic<Int>(0)

  func subscribe() -> AsyncStream<Void> {
    let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    let id = nextID.add(1, ordering: .relaxed).newValue
    continuation.yield()
    continuation.onTermination = { [weak self] _ in _ = self?.subscribers.withLock { $0?.removeValue(forKey: id) } }
    let open = subscribers.withLock { subscribers -> Bool in
      guard subscribers != nil else { return false }
      subscribers?[id] = continuation
      return true
    }
    if !open { continuation.finish() }
    return stream
  }

  func signal() {
    for continuation in subscribers.withLock({ Array(($0 ?? [:]).values) }) { continuation.yield() }
  }

  /// Ends every subscription (after whatever was last signalled is delivered).
  func finish() {
    let open = subscribers.withLock { subscribers in
      defer { subscribers = nil }
      return Array((subscribers ?? [:]).values)
    }
    for continuation in open { continuation.finish() }
  }
}
