import ArgumentParser
import CustosClient
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// Every call the CLI makes goes through `CustosClient`: its retries, failover between the `--server`
/// nodes, token handling and messages are the library's.
enum DaemonConnection {
  /// Runs `body` with a client for the command's options; failures become the CLI's messages.
  static func withCustos<T: Sendable>(_ options: GlobalOptions, _ body: (CustosClient) async throws -> T) async throws -> T {
    let configuration = try clientConfiguration(options)
    do {
      return try await withCustosClient(configuration, body)
    } catch let error as CustosClientError {
      throw CLIError(error, servers: configuration.endpoints.map(\.description).joined(separator: ","))
    }
  }

  /// Runs `body` as one call of `kind` (retried as the library allows) on a connection to a node.
  static func withClient<T: Sendable>(
    _ options: GlobalOptions, _ kind: CustosClient.CallKind, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await withCustos(options) { client in try await client.call(kind) { try await body($0.grpc) } }
  }

  static func withAuditLog<T: Sendable>(
    _ options: GlobalOptions, _ kind: CustosClient.CallKind, _ body: (Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await withClient(options, kind) { try await body(Custos_V1_AuditLog.Client(wrapping: $0)) }
  }

  /// The library's configuration from the flags and environment: nodes, TLS and credentials.
  static func clientConfiguration(_ options: GlobalOptions) throws -> CustosClientConfiguration {
    let environment = ProcessInfo.processInfo.environment
    let endpoints = try options.serverAddresses().map { CustosClientConfiguration.Endpoint(host: $0.host, port: $0.port) }
    var configuration = CustosClientConfiguration(endpoints: endpoints, credentials: try credentials(options), tls: try tls(options))
    // A person waits at a terminal: a few attempts, not minutes of them.
    configuration.retry = .init(maximumAttempts: 4, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
    configuration.callDeadline = .seconds(Int64(environment["CUSTOS_CALL_DEADLINE_SECONDS"].flatMap(Int64.init) ?? 600))
    configuration.attemptTimeout = configuration.callDeadline
    return configuration
  }

  /// TLS when a CA is given (flag or CUSTOS_TLS_CA), with a client certificate for mutual TLS.
  static func tls(_ options: GlobalOptions) throws -> CustosClientConfiguration.TLS? {
    let environment = ProcessInfo.processInfo.environment
    guard let ca = options.tlsCa ?? environment["CUSTOS_TLS_CA"], !ca.isEmpty else { return nil }
    let certificate = options.tlsCert ?? environment["CUSTOS_TLS_CERT"]
    let key = options.tlsKey ?? environment["CUSTOS_TLS_KEY"]
    guard (certificate == nil) == (key == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    return .init(caFile: ca, certificateFile: certificate, keyFile: key)
  }

  /// --token, else $CUSTOS_TOKEN, else the client credentials (variables or file), else none.
  static func credentials(_ options: GlobalOptions) throws -> CustosClientConfiguration.Credentials {
    let environment = ProcessInfo.processInfo.environment
    if let token = options.token ?? environment["CUSTOS_TOKEN"], !token.isEmpty { return .token(token) }
    if let id = environment["CUSTOS_CLIENT_ID"], let secret = environment["CUSTOS_CLIENT_SECRET"] { return .clientSecret(id: id, secret: secret) }
    if let file = options.credentials ?? environment["CUSTOS_CREDENTIALS"], !file.isEmpty {
      do { return try .file(file) } catch let error as CustosClientError { throw CLIError(error.message) }
    }
    return .none
  }
}

/// A failed call, printed as the daemon's status and message; exits non-zero.
struct CLIError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) { self.description = description }

  init(_ error: CustosClientError, servers: String) {
    if error.code == .unavailable, error.message.contains("connect") || error.message.contains("Connection") || error.message.contains("connection") {
      description = "cannot reach custosd at \(servers): \(error.message) (is it running? set --server or CUSTOS_SERVER)"
    } else if error.code == .unauthenticated {
      description = "\(error.code): \(error.message) (give --token, CUSTOS_TOKEN, CUSTOS_CLIENT_ID and CUSTOS_CLIENT_SECRET, or CUSTOS_CREDENTIALS)"
    } else {
      description = "\(error.code): \(error.message)"
    }
  }
}
