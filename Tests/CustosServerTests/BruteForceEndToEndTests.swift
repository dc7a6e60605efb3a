import CustosClient
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Guessing client secrets: after the allowed failures a client id and a peer are held back with
/// RESOURCE_EXHAUSTED and a retry delay, the ledger records the attack once per window, /metrics shows it.
@Suite struct BruteForceEndToEndTests {
  // The delay outlasts the steps between the fourth guess and the /metrics scrape that sees it held back,
  // even with the whole suite running beside this test on 2 cores (1.5 s did not, once; 5 s did not, once).
  // The test waits it out once, in the client library's retry.
  static let delayMilliseconds = 15_000
  static let delay = Duration.milliseconds(delayMilliseconds)
  static let environment = [
    "CUSTOS_TOKEN_FAILURES_ALLOWED": "3", "CUSTOS_TOKEN_FAILURE_DELAY_MS": "\(delayMilliseconds)", "CUSTOS_TOKEN_FAILURE_MAX_DELAY_SECONDS": "60",
    "CUSTOS_TOKEN_FAILURE_WINDOW_SECONDS": "60",
  ]

  @Test func guessesAreHeldBackRecordedOncePerWindowAndShownInMetrics() async throws {
    let daemon = try await DaemonProcess(environment: Self.environment, authenticated: true, httpSidePort: true)
    let credential = try JSONSerialization.jsonObject(
      with: Data(contentsOf: daemon.keysDirectory.appendingPathComponent("initial-admin-credential"))) as! [String: String]
    let (adminID, adminSecret) = (credential["client_id"]!, credential["client_secret"]!)
    try await withDaemonClients(port: daemon.grpcPort) { _, client in
      let tokens = Custos_V1_Tokens.Client(wrapping: client)
      func issue(_ id: String, _ secret: String) async throws -> String {
        try await tokens.issueToken(.with { $0.clientID = id; $0.clientSecret = secret }).accessToken
      }
      // Four wrong secrets are checked (the fourth is beyond the allowance and starts the delay).
      var beforeDelay = ContinuousClock.now
      for _ in 0..<4 {
        beforeDelay = ContinuousClock.now
        await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "invalid client credentials") { _ = try await issue(adminID, "cs_guess") }
      }
      // Now even the right secret waits, told how long; so does any client id from this address.
      do {
        _ = try await issue(adminID, adminSecret)
        Issue.record("a throttled client id was issued a token")
      } catch let error as RPCError {
        #expect(error.code == .resourceExhausted && error.message.contains("too many failed authentications for client_id \"\(adminID)\": retry after"))
        let pushback = error.metadata[stringValues: "grpc-retry-pushback-ms"].first { _ in true }.flatMap { Int($0) }
        #expect(pushback.map { (1...Self.delayMilliseconds).contains($0) } == true, "retry pushback \(String(describing: pushback))")
      }
      await KeysEndToEndTests.expectStatus(.resourceExhausted, containing: "too many failed authentications for this address (127.0.0.1)") {
        _ = try await issue("payments", "cs_guess")
      }
      let metrics = try await daemon.httpGet("/metrics")
      let scrapedAfter = ContinuousClock.now - beforeDelay
      #expect(scrapedAfter < Self.delay, "the steps took \(scrapedAfter), longer than the delay: the gauges below may read 0")
      #expect(metrics.contains("custos_token_throttled_keys{scope=\"client_id\"} 1"), "\(metrics)")
      #expect(metrics.contains("custos_token_throttled_keys{scope=\"peer\"} 1"))
      #expect(metrics.contains("custos_token_throttled_attempts{scope=\"client_id\"} 1"))

      // The client library waits out the delay the server asked for, then gets its token.
      let started = ContinuousClock.now
      var configuration = CustosClientConfiguration(
        endpoints: [.init(host: "127.0.0.1", port: daemon.grpcPort)], credentials: .clientSecret(id: adminID, secret: adminSecret))
      configuration.callDeadline = Self.delay + .seconds(15)
      configuration.attemptTimeout = .seconds(10)
      let checkpoint = try await withCustosClient(configuration) { client in try await client.checkpoint() }
      #expect(checkpoint.size > 0)
      #expect(ContinuousClock.now - started < Self.delay + .seconds(10))

      // The ledger has each checked guess within the allowance, then one summary per count: not one entry per attempt.
      let bearer: Metadata = ["authorization": "Bearer \(try await issue(adminID, adminSecret))"]
      let log = Custos_V1_AuditLog.Client(wrapping: client)
      let size = try await log.getCheckpoint(.init(), metadata: bearer).size
      let entries = try await log.getEntries(.with { $0.start = 0; $0.end = size }, metadata: bearer) { response in
        try await response.messages.reduce(into: [String]()) { $0.append(String(decoding: $1.canonical, as: UTF8.self)) }
      }
      let denied = entries.filter { $0.contains("\"kind\":\"token.issue\"") && $0.contains("\"outcome\":\"denied\"") }
      let summaries = entries.filter { $0.contains("\"kind\":\"token.throttle\"") }
      #expect(denied.count == 3, "\(denied)")
      #expect(summaries.count == 2, "\(summaries)")
      #expect(summaries.contains { $0.contains("\"resource\":\"client/\(adminID)\"") && $0.contains("\"failures\":4") })
      #expect(summaries.contains { $0.contains("\"resource\":\"peer/127.0.0.1\"") && $0.contains("\"scope\":\"peer\"") })
      #expect(!entries.contains { $0.contains("cs_guess") || $0.contains(adminSecret) }, "no secret is recorded")
    }
  }
}
