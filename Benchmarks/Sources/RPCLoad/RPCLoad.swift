import CustosCrypto
import CustosProtocol
import CustosServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import LoadSupport

/// Loopback load against one custosd: a trivial handler (grpc.health.v1.Health/Check) and Custos's
/// `Append`, `Check` and `Encrypt`, same server, same connection settings, same concurrency, measured
/// back to back.
///
///   swift run -c release RPCLoad [seconds-per-phase] [in-flight]
@main
struct RPCLoad {
  static func main() async throws {
    let seconds = argument(1, default: 5.0)
    let inFlight = argument(2, default: 64)

    let (daemon, port, directory) = try await InProcessDaemon.start { $0.authentication = false }
    let (checksOff, trivialOff) = try await withGRPCClient(
      transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    ) { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let log = Custos_V1_AuditLog.Client(wrapping: client)
      let event = Custos_V1_AuditEvent.with {
        $0.kind = "audit.event"
        $0.actor = "Service::\"billing-worker\""
        $0.action = "charge"
        $0.resource = "Invoice::\"42\""
        $0.outcome = "success"
        $0.details = Data("{\"amount_cents\":1299,\"currency\":\"EUR\"}".utf8)
      }
      let batch = Custos_V1_AppendBatchRequest.with { $0.events = Array(repeating: event, count: 100) }

      _ = try await callRate("warm-up", seconds: 1, inFlight: inFlight) { _ = try await health.check(.init()) }
      let trivial = try await callRate("Health/Check (trivial handler)", seconds: seconds, inFlight: inFlight) {
        _ = try await health.check(.init())
      }
      let append = try await callRate("AuditLog/Append (durable)", seconds: seconds, inFlight: inFlight) {
        _ = try await log.append(.with { $0.event = event })
      }
      // Idempotency keys: a fresh key per call (what CustosClient sends), then retries of one recorded
      // request, answered from its stored key without the write path.
      let run = UUID().uuidString.prefix(8), sent = Counter()
      let keyed = try await callRate("AuditLog/Append with a fresh idempotency_key (durable)", seconds: seconds, inFlight: inFlight) {
        let n = sent.value.add(1, ordering: .relaxed).newValue
        _ = try await log.append(.with { $0.event = event; $0.idempotencyKey = "\(run)-\(n)" })
      }
      let retried = Custos_V1_AppendRequest.with { $0.event = event; $0.idempotencyKey = "rpcload-retried-request" }
      _ = try await log.append(retried)
      let retries = try await callRate("AuditLog/Append retried (idempotency_key already stored)", seconds: seconds, inFlight: inFlight) {
        _ = try await log.append(retried)
      }
      let batches = try await callRate("AuditLog/AppendBatch x100 (durable)", seconds: seconds, inFlight: 8) {
        _ = try await log.appendBatch(batch)
      }
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let check = checkRequest
      let checks = try await callRate("Authorization/Check (durable decision)", seconds: seconds, inFlight: inFlight) {
        _ = try await authz.check(check)
      }
      let streamed = try await streamRate(seconds: seconds) { count in
        try await authz.checkStream(
          requestProducer: { writer in for _ in 0..<count { try await writer.write(check) } },
          onResponse: { response in try await response.messages.reduce(0) { n, _ in n + 1 } })
      }
      let keys = Custos_V1_Keys.Client(wrapping: client)
      _ = try await keys.createKeyring(.with { $0.name = "rpcload" })
      let encryptRequest = Custos_V1_EncryptRequest.with {
        $0.keyring = "rpcload"
        $0.plaintext = Data(repeating: 0x5a, count: 1024)
        $0.context = ["tenant": "acme"]
      }
      let encrypts = try await callRate("Keys/Encrypt 1 KiB (audited, durable)", seconds: seconds, inFlight: inFlight) {
        _ = try await keys.encrypt(encryptRequest)
      }
      print(String(format: "Append / trivial handler ratio: %.2f", append / trivial))
      print(String(format: "Append with idempotency_key / without: %.2f (goal >= 0.9)", keyed / append))
      print(String(format: "Retried Append (stored key) / fresh keyed Append: %.2f (a retry costs %.2fx a fresh append)", retries / keyed, keyed / retries))
      print(String(format: "AppendBatch events per second: %.0f", batches * 100))
      print(String(format: "Check / trivial handler ratio: %.2f", checks / trivial))
      print(String(format: "CheckStream decisions per second: %.0f (%.1fx the unary Check rate)", streamed, streamed / checks))
      print(String(format: "Encrypt / trivial handler ratio: %.2f", encrypts / trivial))
      return (checks, trivial)
    }
    daemon.cancel()
    try? FileManager.default.removeItem(at: directory)

    // The same Check against a second daemon with authentication on (every call carries a bearer token
    // the server verifies, cached after the first use), back to back with one more run of the first.
    let (authenticated, authPort, authDirectory) = try await InProcessDaemon.start { $0.authentication = true }
    let admin = try initialAdminTokenRequest(daemonDirectory: authDirectory)
    try await withGRPCClient(
      transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: authPort), transportSecurity: .plaintext)
    ) { client in
      let token = try await Custos_V1_Tokens.Client(wrapping: client).issueToken(admin).accessToken
      let metadata: Metadata = ["authorization": "Bearer \(token)"]
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let trivialOn = try await callRate("Health/Check (trivial handler), second server", seconds: seconds, inFlight: inFlight) {
        _ = try await health.check(.init())
      }
      let on = try await callRate("Authorization/Check, authentication on", seconds: seconds, inFlight: inFlight) {
        _ = try await authz.check(checkRequest, metadata: metadata)
      }
      print(String(format: "Check with authentication on / off: %.2f (each against its server's trivial handler: %.2f / %.2f = %.2f)",
        on / checksOff, on / trivialOn, checksOff / trivialOff, (on / trivialOn) / (checksOff / trivialOff)))
    }
    authenticated.cancel()
    try? FileManager.default.removeItem(at: authDirectory)
  }

  static let checkRequest = billingRefundCheck

  /// Decisions per second through one CheckStream, in rounds of 2,000 requests.
  static func streamRate(seconds: Double, _ round: @escaping @Sendable (Int) async throws -> Int) async throws -> Double {
    let start = ContinuousClock.now
    var total = 0
    while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) { total += try await round(2000) }
    let elapsed = ContinuousClock.now - start
    let perSecond = Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    print(String(format: "Authorization/CheckStream: %.0f decisions/s (one stream)", perSecond))
    return perSecond
  }
}
