import CustosCrypto
import CustosLedger
import CustosProtocol
import CustosServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import LoadSupport

/// `Check` over loopback on one deployment, without and then with a witness cosigning every checkpoint
/// (an in-process `custos witness`), each against the same server's trivial handler.
///
///   swift run -c release WitnessLoad [seconds-per-phase] [in-flight]
@main
struct WitnessLoad {
  static func main() async throws {
    let seconds = argument(1, default: 5.0)
    let inFlight = argument(2, default: 64)

    let (first, firstPort, directory) = try await InProcessDaemon.start { $0.authentication = false }
    let verifierKey = try await withClient(port: firstPort) { try await Custos_V1_AuditLog.Client(wrapping: $0).getVerifierKey(.init()).verifierKey }
    let without = try await measure(port: firstPort, seconds: seconds, inFlight: inFlight, label: "without witnesses")
    first.cancel()
    _ = await first.result

    let witnessPort = 17_490 + Int.random(in: 0..<500)
    let settings = WitnessServer.Settings(
      listen: HostPort(host: "127.0.0.1", port: witnessPort), name: "bench.local/witness",
      keyFile: directory.appendingPathComponent("witness.key").path, stateFile: directory.appendingPathComponent("witness.json").path,
      logs: [verifierKey])
    let vkey = try WitnessServer.vkey(settings)
    var logger = Logger(label: "witness")
    logger.logLevel = .warning
    let witness = Task { [settings, logger] in try await WitnessServer.run(settings, logger: logger) }
    try await Task.sleep(for: .milliseconds(500))
    let endpoint = try WitnessEndpoint(parsing: "http://127.0.0.1:\(witnessPort) \(vkey)")
    let (second, secondPort, _) = try await InProcessDaemon.start { [directory] configuration in
      configuration.authentication = false
      configuration.dataDirectory = directory.appendingPathComponent("data").path
      configuration.keysDirectory = directory.appendingPathComponent("keys").path
      configuration.witnesses = [endpoint]
    }
    let with = try await measure(port: secondPort, seconds: seconds, inFlight: inFlight, label: "with a witness")
    try await Task.sleep(for: .seconds(1))  // the last checkpoint of the load reaches the witness
    let note = try await withClient(port: secondPort) { try await Custos_V1_AuditLog.Client(wrapping: $0).getCheckpoint(.init()).signedNote }
    print("the served checkpoint carries the witness's cosignature: \(note.contains("bench.local/witness"))")
    print(String(format: "Check with a witness / without: %.2f (each against its server's trivial handler: %.2f / %.2f = %.2f; goal: no added latency)",
      with.check / without.check, with.check / with.trivial, without.check / without.trivial,
      (with.check / with.trivial) / (without.check / without.trivial)))
    second.cancel()
    witness.cancel()
    try? FileManager.default.removeItem(at: directory)
  }

  @MainActor static func measure(port: Int, seconds: Double, inFlight: Int, label: String) async throws -> (trivial: Double, check: Double) {
    try await withClient(port: port) { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let request = billingRefundCheck
      _ = try await callRate("warm-up (\(label))", seconds: 1, inFlight: inFlight) { _ = try await authz.check(request) }
      let trivial = try await callRate("Health/Check (\(label))", seconds: seconds, inFlight: inFlight) { _ = try await health.check(.init()) }
      let check = try await callRate("Authorization/Check (\(label))", seconds: seconds, inFlight: inFlight) { _ = try await authz.check(request) }
      return (trivial, check)
    }
  }

  @MainActor static func withClient<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) {
      try await body($0)
    }
  }
}
