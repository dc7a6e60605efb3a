import ArgumentParser
import CustosProtocol
import GRPCCore
import GRPCNIOTransportHTTP2

/// Opens one gRPC connection to the daemon for the life of a command.
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
    let target: any ResolvableTarget =
      address.host.contains(":") ? .ipv6(host: address.host, port: address.port) : .dns(host: address.host, port: address.port)
    do {
      return try await withGRPCClient(
        transport: try .http2NIOPosix(target: target, transportSecurity: .plaintext)
      ) { client in
        try await body(client)
      }
    } catch let error as RPCError {
      throw CLIError(rpc: error, server: "\(address.host):\(address.port)")
    }
  }
}

/// A failed call, printed as the daemon's status and message; exits non-zero.
struct CLIError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) { self.description = description }

  init(rpc: RPCError, server: String) {
    if rpc.code == .unavailable, rpc.message.contains("connect") || rpc.message.contains("Connection") {
      description = "cannot reach custosd at \(server): \(rpc.message) (is it running? set --server or CUSTOS_SERVER)"
    } else {
      description = "\(rpc.code): \(rpc.message)"
    }
  }
}
