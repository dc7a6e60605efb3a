import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// A client for Custos that retries what is safe to retry, refreshes its token, and fails over between
/// nodes. Make one with `withCustosClient(_:_:)`.
///
/// Every call runs as attempts within one deadline (`callDeadline`). An attempt that gets UNAVAILABLE
/// (or no connection) moves to the next node; RESOURCE_EXHAUSTED waits and tries again; DEADLINE_EXCEEDED
/// is retried only for reads and for mutations carrying an idempotency key — which the client gives every
/// mutation it sends unless the caller gave one. Waits between attempts are exponential with full jitter.
/// Other failures come back at once as `CustosClientError`, with the status and Custos's message.
public final class CustosClient: Sendable {
  public typealias Transport = HTTP2ClientTransport.Posix

  /// What a call does, which decides what may be retried.
  public enum CallKind: Sendable {
    /// Changes nothing (reads, proofs): always safe to retry.
    case read
    /// Records or changes something: safe to retry after a timeout only with an idempotency key.
    case mutation(idempotent: Bool)
  }

  /// One attempt's connection and options (the attempt's timeout, bounded by the call's deadline), with
  /// the generated clients of every Custos service on it. The bearer token is added to every request on
  /// the connection by the client; `metadata` is for the caller's own.
  public struct Attempt: Sendable {
    public let grpc: GRPCClient<Transport>
    public let metadata: Metadata
    public let options: CallOptions
    /// The node this attempt goes to.
    public let endpoint: CustosClientConfiguration.Endpoint

    public var auditLog: Custos_V1_AuditLog.Client<Transport> { .init(wrapping: grpc) }
    public var authorization: Custos_V1_Authorization.Client<Transport> { .init(wrapping: grpc) }
    public var policyAdmin: Custos_V1_PolicyAdmin.Client<Transport> { .init(wrapping: grpc) }
    public var keys: Custos_V1_Keys.Client<Transport> { .init(wrapping: grpc) }
    public var operators: Custos_V1_Operator.Client<Transport> { .init(wrapping: grpc) }
    public var tokens: Custos_V1_Tokens.Client<Transport> { .init(wrapping: grpc) }
    public var reports: Custos_V1_Reports.Client<Transport> { .init(wrapping: grpc) }
    public var health: Grpc_Health_V1_Health.Client<Transport> { .init(wrapping: grpc) }
  }

  public let configuration: CustosClientConfiguration
  let clients: [GRPCClient<Transport>]
  let health: EndpointHealth
  let tokens: TokenSource

  init(configuration: CustosClientConfiguration, clients: [GRPCClient<Transport>], bearer: BearerTokenInterceptor) {
    self.configuration = configuration
    self.clients = clients
    self.health = EndpointHealth(count: clients.count)
    self.tokens = TokenSource(credentials: configuration.credentials, refreshFraction: configuration.tokenRefreshFraction)
    bearer.source.withLock { $0.client = self }
  }

  /// Runs `attempt` until it succeeds, a failure that must not be retried comes back, the attempts are
  /// used up or the call's deadline passes. `authenticated: false` sends no token (bootstrap calls).
  public func call<Result: Sendable>(
    _ kind: CallKind, authenticated: Bool = true, _ attempt: (Attempt) async throws -> Result
  ) async throws -> Result {
    let clock = ContinuousClock()
    let deadline = clock.now + configuration.callDeadline
    let retry = configuration.retry
    var attempts = 0
    var renewedExpiredToken = false
    var last: (error: RPCError, endpoint: String)?
    while true {
      attempts += 1
      let remaining = deadline - clock.now
      guard remaining > .zero else {
        throw CustosClientError(
          code: .deadlineExceeded, message: "no answer within the call deadline (\(configuration.callDeadline))"
            + (last.map { "; last: \($0.error.code): \($0.error.message)" } ?? ""),
          endpoint: last?.endpoint, attempts: attempts - 1)
      }
      let index = await health.pick()
      let endpoint = configuration.endpoints[index]
      var options = CallOptions.defaults
      options.timeout = min(configuration.attemptTimeout, remaining)
      options.waitForReady = false
      let token = authenticated ? try await bearerToken() : nil
      do {
        let result = try await attempt(Attempt(grpc: clients[index], metadata: [:], options: options, endpoint: endpoint))
        await health.serving(index)
        return result
      } catch {
        let rpc = error as? RPCError ?? RPCError(code: .unknown, message: "\(error)")
        last = (rpc, endpoint.description)
        switch Self.verdict(rpc, kind) {
        case .fail:
          throw CustosClientError(rpc, endpoint: endpoint.description, attempts: attempts)
        case .renewToken:
          guard !renewedExpiredToken, await tokens.refreshes else { throw CustosClientError(rpc, endpoint: endpoint.description, attempts: attempts) }
          renewedExpiredToken = true
          await tokens.reject(token)
          attempts -= 1
          continue
        case let .retry(elsewhere):
          if elsewhere { await health.failed(index) }
          guard attempts < retry.maximumAttempts else { throw CustosClientError(rpc, endpoint: endpoint.description, attempts: attempts) }
          var wait = retry.backoff(beforeAttempt: attempts + 1)
          if let pushback = Self.retryPushback(rpc) {
            // The server said when it will listen again (a throttled IssueToken): sooner is refused anyway,
            // and beyond the deadline there is no point in waiting.
            guard pushback < deadline - clock.now else { throw CustosClientError(rpc, endpoint: endpoint.description, attempts: attempts) }
            wait = max(wait, pushback)
          }
          wait = min(wait, deadline - clock.now)
          if wait > .zero { try await Task.sleep(for: wait) }
        }
      }
    }
  }

  enum Verdict: Equatable {
    case fail
    case renewToken
    /// Try again; `elsewhere`: on another node.
    case retry(elsewhere: Bool)
  }

  static func verdict(_ error: RPCError, _ kind: CallKind) -> Verdict {
    switch error.code {
    case .unavailable: return .retry(elsewhere: true)
    case .resourceExhausted: return .retry(elsewhere: false)
    case .deadlineExceeded:
      if case .mutation(idempotent: false) = kind { return .fail }
      return .retry(elsewhere: true)
    case .unauthenticated where error.message.contains("expired"): return .renewToken
    default: return .fail
    }
  }

  /// The wait a server asked for with gRPC's retry pushback (gRFC A6), if any.
  static func retryPushback(_ error: RPCError) -> Duration? {
    guard let value = error.metadata[stringValues: "grpc-retry-pushback-ms"].first(where: { _ in true }),
      let milliseconds = Int64(value), milliseconds >= 0
    else { return nil }
    return .milliseconds(milliseconds)
  }

  /// The current token, issued (through any node) when none is held or it is due for refresh.
  func bearerToken() async throws -> String? {
    try await tokens.token { [self] id, secret in
      let response = try await call(.mutation(idempotent: false), authenticated: false) { attempt in
        try await attempt.tokens.issueToken(.with {
          $0.clientID = id
          $0.clientSecret = secret
        }, metadata: attempt.metadata, options: attempt.options)
      }
      return (response.accessToken, .seconds(max(1, response.expiresIn)))
    }
  }

  /// Health-checks the nodes marked down until cancelled, bringing back the ones that serve again.
  func checkHealth() async {
    while !Task.isCancelled {
      try? await Task.sleep(for: configuration.healthCheckInterval)
      for index in await health.unhealthy {
        var options = CallOptions.defaults
        options.timeout = .seconds(1)
        options.waitForReady = false
        let answer = try? await Grpc_Health_V1_Health.Client(wrapping: clients[index]).check(.init(), options: options)
        if answer?.status == .serving { await health.serving(index) }
      }
    }
  }

  /// A fresh idempotency key for a mutation, unless the caller gave one or keys are turned off.
  func idempotencyKey(_ given: String?) -> String {
    if let given, !given.isEmpty { return given }
    return configuration.addIdempotencyKeys ? UUID().uuidString.lowercased() : ""
  }
}

/// Connects to the configured nodes, runs `body` with the client, and closes the connections.
public func withCustosClient<Result: Sendable>(
  _ configuration: CustosClientConfiguration, _ body: (CustosClient) async throws -> Result
) async throws -> Result {
  guard !configuration.endpoints.isEmpty else { throw CustosClientError(code: .invalidArgument, message: "no endpoints: give at least one host:port") }
  let security = try transportSecurity(configuration.tls)
  var clients: [GRPCClient<CustosClient.Transport>] = []
  // Reconnect soon after a lost connection: gRPC's default backoff (up to two minutes) would outlast
  // the call deadline while the node is back already.
  let transportConfig = HTTP2ClientTransport.Posix.Config.defaults { config in
    config.backoff = .init(initial: .milliseconds(20), max: configuration.reconnectBackoffLimit, multiplier: 1.6, jitter: 0.2)
  }
  // Every call fails fast when its node is unreachable (the client moves on) and has a timeout even
  // when the caller set none.
  let defaults = ServiceConfig(methodConfig: [MethodConfig(names: [.init(service: "")], waitForReady: false, timeout: configuration.attemptTimeout)])
  let bearer = BearerTokenInterceptor()
  for endpoint in configuration.endpoints {
    clients.append(GRPCClient(
      transport: try .http2NIOPosix(target: target(endpoint), transportSecurity: security, config: transportConfig, serviceConfig: defaults),
      interceptors: [bearer]))
  }
  let client = CustosClient(configuration: configuration, clients: clients, bearer: bearer)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    for grpc in clients { group.addTask { try await grpc.runConnections() } }
    group.addTask { await client.checkHealth() }
    defer {
      for grpc in clients { grpc.beginGracefulShutdown() }
      group.cancelAll()
    }
    return try await body(client)
  }
}

private func target(_ endpoint: CustosClientConfiguration.Endpoint) -> any ResolvableTarget {
  let host = endpoint.host == "localhost" ? "127.0.0.1" : endpoint.host
  if host.contains(":") { return .ipv6(address: host, port: endpoint.port) }
  let parts = host.split(separator: ".")
  if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return .ipv4(address: host, port: endpoint.port) }
  return .dns(host: host, port: endpoint.port)
}

private func transportSecurity(_ tls: CustosClientConfiguration.TLS?) throws -> HTTP2ClientTransport.Posix.TransportSecurity {
  guard let tls else { return .plaintext }
  guard (tls.certificateFile == nil) == (tls.keyFile == nil) else {
    throw CustosClientError(code: .invalidArgument, message: "a client certificate and its key go together")
  }
  return .tls { config in
    config.trustRoots = .certificates([.file(path: tls.caFile, format: .pem)])
    if let certificate = tls.certificateFile, let key = tls.keyFile {
      config.certificateChain = [.file(path: certificate, format: .pem)]
      config.privateKey = .file(path: key, format: .pem)
    }
  }
}
