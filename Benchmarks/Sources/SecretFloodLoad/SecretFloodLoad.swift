import CustosProtocol
import CustosServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LoadSupport

/// `Check` latency for one caller before and during a flood of `IssueToken` calls with bad secrets,
/// twice: with the brute-force throttle off (every guess reaches Argon2id: what a spread-out attack
/// costs, bounded only by the two Argon2id permits) and with the default throttle.
///
///   swift run -c release SecretFloodLoad [flood-seconds] [check-in-flight] [flood-in-flight]
@main
struct SecretFloodLoad {
  static func main() async throws {
    let floodSeconds = argument(1, default: 60.0)
    let checkInFlight = argument(2, default: 8)
    let floodInFlight = argument(3, default: 32)
    for throttled in [false, true] {
      let (daemon, port, directory) = try await InProcessDaemon.start { configuration in
        if !throttled { configuration.authenticationThrottle.allowedFailures = .max }
      }
      try await run(port: port, admin: try initialAdminTokenRequest(daemonDirectory: directory), floodSeconds: floodSeconds,
        checkInFlight: checkInFlight, floodInFlight: floodInFlight, label: throttled ? "throttle on (defaults)" : "throttle off")
      daemon.cancel()
      _ = await daemon.result
      try? FileManager.default.removeItem(at: directory)
    }
  }

  static func run(port: Int, admin: Custos_V1_IssueTokenRequest, floodSeconds: Double, checkInFlight: Int, floodInFlight: Int, label: String) async throws {
    try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) { client in
      let tokens = Custos_V1_Tokens.Client(wrapping: client)
      let token = try await tokens.issueToken(admin).accessToken
      let bearer: Metadata = ["authorization": "Bearer \(token)"]
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let request = billingRefundCheck
      let check: @Sendable () async throws -> Void = { _ = try await authz.check(request, metadata: bearer) }
      _ = await sampleLatencies(seconds: 2, inFlight: checkInFlight, check)
      let before = await sampleLatencies(seconds: 10, inFlight: checkInFlight, check)
      print("[\(label)] Check before the flood: \(before.summary)")
      // The flood runs on its own connection, as an attacker's would.
      let flood = Task {
        try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) { attacker in
          let guesses = Custos_V1_Tokens.Client(wrapping: attacker)
          return await sampleLatencies(seconds: floodSeconds, inFlight: floodInFlight) {
            _ = try await guesses.issueToken(.with { $0.clientID = admin.clientID; $0.clientSecret = "cs_guess-\(UInt64.random(in: 0...UInt64.max))" })
          }
        }
      }
      try await Task.sleep(for: .seconds(1))
      let during = await sampleLatencies(seconds: floodSeconds - 2, inFlight: checkInFlight, check)
      let guesses = try await flood.value
      print("[\(label)] Check during a \(Int(floodSeconds)) s flood of bad secrets (\(floodInFlight) in flight): \(during.summary)")
      print("[\(label)] the flood: \(guesses.errors) guesses answered (\(String(format: "%.0f", Double(guesses.errors) / floodSeconds))/s), \(guesses.durations.count) accepted")
      print(String(format: "[\(label)] during/before: p50 %.2f, p99 %.2f, rate %.2f (goal: Check keeps deciding for other callers)",
        during.percentile(0.5) / before.percentile(0.5), during.percentile(0.99) / before.percentile(0.99), during.callsPerSecond / before.callsPerSecond))
    }
  }
}
