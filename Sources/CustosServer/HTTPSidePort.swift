import Hummingbird
import Logging
import NIOCore

/// The small HTTP side port: `/healthz` for load balancers and orchestrators.
enum HTTPSidePort {
  static func application(address: HostPort, health: HealthService, logger: Logger) -> some ApplicationProtocol {
    let router = Router()
    router.get("/healthz") { _, _ -> Response in
      let serving = health.status(of: "") == .serving
      return Response(
        status: serving ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: serving ? "ok\n" : "not serving\n")))
    }
    return Application(
      router: router,
      configuration: .init(address: .hostname(address.host, port: address.port), serverName: "custosd"),
      onServerRunning: { channel in
        let bound = channel.localAddress.map { "\($0.ipAddress ?? address.host):\($0.port ?? address.port)" } ?? "\(address)"
        logger.info("http listening on \(bound)", metadata: ["address": "\(bound)"])
      },
      logger: logger)
  }
}
