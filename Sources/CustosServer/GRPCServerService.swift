import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// Runs a gRPC server as a lifecycle service: serves until graceful shutdown, then drains in-flight RPCs.
struct GRPCServerService: Service {
  let server: GRPCServer<HTTP2ServerTransport.Posix>
  let transport: HTTP2ServerTransport.Posix
  let logger: Logger
  let onListening: @Sendable (String) -> Void
  /// Runs first when shutdown begins (health turns NOT_SERVING so load balancers drain us).
  let onShutdown: @Sendable () -> Void

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await server.serve() }
        let address = try await transport.listeningAddress
        let text = address.ipv4.map { "\($0.host):\($0.port)" } ?? address.ipv6.map { "[\($0.host)]:\($0.port)" } ?? "\(address)"
        logger.info("grpc listening on \(text)", metadata: ["address": "\(text)"])
        onListening(text)
      }
    } onGracefulShutdown: {
      logger.info("grpc server shutting down: draining in-flight calls")
      onShutdown()
      server.beginGracefulShutdown()
    }
  }
}
