import GRPCCore
import Testing

@testable import CustosClient

/// What the client retries, how long it waits, and how it picks nodes.
@Suite struct RetryPolicyTests {
  @Test func onlyWhatIsSafeIsRetried() {
    let keyed = CustosClient.CallKind.mutation(idempotent: true)
    let unkeyed = CustosClient.CallKind.mutation(idempotent: false)
    #expect(CustosClient.verdict(RPCError(code: .unavailable, message: "x"), unkeyed) == .retry(elsewhere: true))
    #expect(CustosClient.verdict(RPCError(code: .resourceExhausted, message: "x"), unkeyed) == .retry(elsewhere: false))
    #expect(CustosClient.verdict(RPCError(code: .deadlineExceeded, message: "x"), .read) == .retry(elsewhere: true))
    #expect(CustosClient.verdict(RPCError(code: .deadlineExceeded, message: "x"), keyed) == .retry(elsewhere: true))
    #expect(CustosClient.verdict(RPCError(code: .deadlineExceeded, message: "x"), unkeyed) == .fail)
    #expect(CustosClient.verdict(RPCError(code: .unauthenticated, message: "token expired"), .read) == .renewToken)
    for code in [RPCError.Code.invalidArgument, .failedPrecondition, .permissionDenied, .notFound, .dataLoss, .unauthenticated] {
      #expect(CustosClient.verdict(RPCError(code: code, message: "x"), keyed) == .fail, "\(code)")
    }
  }

  @Test func backoffIsExponentialWithFullJitterAndCapped() {
    let policy = CustosClientConfiguration.RetryPolicy(maximumAttempts: 10, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1), multiplier: 2)
    for attempt in 2...10 {
      let ceiling = min(1.0, 0.1 * Double(1 << (attempt - 2)))
      let waits = (0..<200).map { _ in CustosClientConfiguration.RetryPolicy.seconds(policy.backoff(beforeAttempt: attempt)) }
      #expect(waits.allSatisfy { $0 >= 0 && $0 <= ceiling + 1e-9 }, "attempt \(attempt)")
      #expect(waits.max()! > ceiling * 0.5 && waits.min()! < ceiling * 0.5, "spread over [0, \(ceiling)]")
    }
  }

  @Test func endpointsParseAndFailedNodesAreSkippedUntilTheyServe() async throws {
    #expect(try CustosClientConfiguration.Endpoint(parsing: "10.0.0.1:7443") == .init(host: "10.0.0.1", port: 7443))
    #expect(try CustosClientConfiguration.Endpoint(parsing: "[::1]:7443") == .init(host: "::1", port: 7443))
    #expect(throws: CustosClientError.self) { try CustosClientConfiguration.Endpoint(parsing: "nohost") }
    #expect(throws: CustosClientError.self) { try CustosClientConfiguration.Endpoint(parsing: "h:99999") }
    let health = EndpointHealth(count: 3)
    #expect(await health.pick() == 0)
    await health.failed(0)
    #expect(await health.pick() == 1)
    await health.failed(1)
    #expect(await health.pick() == 2)
    await health.serving(0)
    #expect(await health.pick() == 2, "the preferred node stays until it fails")
    await health.failed(2)
    #expect(await health.pick() == 0)
    await health.failed(0)
    // All down: each in turn.
    let turns = [await health.pick(), await health.pick(), await health.pick()]
    #expect(Set(turns).count == 3)
  }
}
