import CustosTokens
import Hummingbird
import Logging
import NIOCore

/// The small HTTP side port: `/healthz` for load balancers and orchestrators, the token signing keys at
/// `/.well-known/jwks.json` for any JOSE library, and Prometheus `/metrics`.
enum HTTPSidePort {
  /// How long clients may cache the JWKS: well under the signing-key lead time, so a new key is fetched
  /// before it signs.
  static let jwksMaxAge = 300

  static func application(
    address: HostPort, health: HealthService, tokens: TokenAuthority, metrics: ServerMetrics, logger: Logger
  ) -> some ApplicationProtocol {
    let router = Router()
    router.get("/healthz") { _, _ -> Response in
      let serving = health.status(of: "") == .serving
      return Response(
        status: serving ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: serving ? "ok\n" : "not serving\n")))
    }
    router.get("/.well-known/jwks.json") { _, _ -> Response in
      Response(
        status: .ok,
        headers: [.contentType: "application/jwk-set+json", .cacheControl: "public, max-age=\(jwksMaxAge)"],
        body: .init(byteBuffer: ByteBuffer(bytes: tokens.jwks())))
    }
    router.get("/metrics") { _, _ -> Response in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(bytes: await metrics.scrape())))
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
