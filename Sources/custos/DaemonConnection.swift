import ArgumentParser
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Opens one gRPC connection to the daemon for the life of a command, authenticated when a token or
/// client credentials are given.
enum DaemonConnection {
  static func withAuditLog<T: Sendable>(
    _ options: GlobalOptions, _ body: (Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await withClient(options) { try await body(Custos_V1_AuditLog.Client(wrapping: $0)) }
  }

  static func withClient<T: Sendable>(
    _ options: GlobalOptions, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    let address = try options.serverAddress()
    let isIPv4 = address.host.split(separator: ".").count == 4 && address.host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    let target: any ResolvableTarget =
      address.host.contains(":") ? .ipv6(host: address.host, port: address.port)
      : isIPv4 ? .ipv4(host: address.host, port: address.port) : .dns(host: address.host, port: address.port)
    let bearer = BearerToken()
    do {
      return try await withGRPCClient(
        transport: try .http2NIOPosix(target: target, transportSecurity: try transportSecurity(options)), interceptors: [bearer]
      ) { client in
        bearer.set(try await token(options, client: client))
        return try await body(client)
      }
    } catch let error as RPCError {
      throw CLIError(rpc: error, server: "\(address.host):\(address.port)")
    }
  }

  /// TLS when a CA is given (flag or CUSTOS_TLS_CA), with a client certificate for mutual TLS.
  static func transportSecurity(_ options: GlobalOptions) throws -> HTTP2ClientTransport.Posix.TransportSecurity {
    let environment = ProcessInfo.processInfo.environment
    guard let ca = options.tlsCa ?? environment["CUSTOS_TLS_CA"], !ca.isEmpty else { return .plaintext }
    let certificate = options.tlsCert ?? environment["CUSTOS_TLS_CERT"]
    let key = options.tlsKey ?? environment["CUSTOS_TLS_KEY"]
    guard (certificate == nil) == (key == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    return .tls { config in
      config.trustRoots = .certificates([.file(path: ca, format: .pem)])
      if let certificate, let key {
        config.certificateChain = [.file(path: certificate, format: .pem)]
        config.privateKey = .file(path: key, format: .pem)
      }
    }
  }

  /// --token, else $CUSTOS_TOKEN, else one issued for the client credentials (variables or file), else none.
  static func token(_ options: GlobalOptions, client: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> String? {
    let environment = ProcessInfo.processInfo.environment
    if let token = options.token ?? environment["CUSTOS_TOKEN"], !token.isEmpty { return token }
    var id = environment["CUSTOS_CLIENT_ID"]
    var secret = environment["CUSTOS_CLIENT_SECRET"]
    if id == nil || secret == nil, let file = options.credentials ?? environment["CUSTOS_CREDENTIALS"], !file.isEmpty {
      guard let data = FileManager.default.contents(atPath: file),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let fileID = object["client_id"] as? String, let fileSecret = object["client_secret"] as? String
      else { throw CLIError("\(file): expected a JSON object with client_id and client_secret") }
      (id, secret) = (fileID, fileSecret)
    }
    guard let id, let secret else { return nil }
    let response = try await Custos_V1_Tokens.Client(wrapping: client).issueToken(.with {
      $0.clientID = id
      $0.clientSecret = secret
    })
    return response.accessToken
  }
}

/// Adds `authorization: Bearer <token>` to every call once a token is known.
final class BearerToken: ClientInterceptor, Sendable {
  private let value = Mutex<String?>(nil)

  func set(_ token: String?) { value.withLock { $0 = token } }

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>, context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    if let token = value.withLock({ $0 }) { request.metadata.replaceOrAddString("Bearer \(token)", forKey: "authorization") }
    return try await next(request, context)
  }
}

/// A failed call, printed as the daemon's status and message; exits non-zero.
struct CLIError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) { self.description = description }

  init(rpc: RPCError, server: String) {
    if rpc.code == .unavailable, rpc.message.contains("connect") || rpc.message.contains("Connection") {
      description = "cannot reach custosd at \(server): \(rpc.message) (is it running? set --server or CUSTOS_SERVER)"
    } else if rpc.code == .unauthenticated {
      description = "\(rpc.code): \(rpc.message) (give --token, CUSTOS_TOKEN, CUSTOS_CLIENT_ID and CUSTOS_CLIENT_SECRET, or CUSTOS_CREDENTIALS)"
    } else {
      description = "\(rpc.code): \(rpc.message)"
    }
  }
}
