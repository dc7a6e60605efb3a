import Testing

@testable import CustosTokens

/// The brute-force throttle: counts per client id and per peer, doubling delays, summaries per window.
@Suite struct AuthenticationThrottleTests {
  static let policy = AuthenticationThrottle.Policy(
    allowedFailures: 3, firstDelayMilliseconds: 1000, maximumDelayMilliseconds: 8000, windowSeconds: 60, maximumTrackedKeys: 100)

  @Test func failuresWithinTheAllowanceAreRecordedOneByOneAndNotHeldBack() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for attempt in 0..<3 {
      #expect(throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: Int64(attempt)) == nil)
      #expect(throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: Int64(attempt)) == .recordAttempt)
    }
    #expect(throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 10) == nil)
  }

  @Test func theDelayDoublesWithEachFurtherFailureUpToTheMaximum() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    var now: Int64 = 0
    for _ in 0..<3 { _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: now) }
    var delays: [Int64] = []
    for _ in 0..<6 {
      _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: now)
      let refusal = throttle.admit(clientID: "payments", peer: "10.0.0.2", nowMilliseconds: now)
      delays.append(refusal?.retryAfterMilliseconds ?? 0)
      #expect(refusal?.scope == .clientID && refusal?.key == "payments")
      now += refusal?.retryAfterMilliseconds ?? 0
      #expect(throttle.admit(clientID: "payments", peer: "10.0.0.2", nowMilliseconds: now) == nil, "admitted once the delay is over")
    }
    #expect(delays == [1000, 2000, 4000, 8000, 8000, 8000])
    #expect(AuthenticationThrottle.delay(afterExcessFailures: 500, policy: Self.policy) == 8000)
  }

  @Test func aPeerGuessingAtManyClientsIsHeldBackByItsAddress() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for index in 0..<4 { _ = throttle.recordFailure(clientID: "client-\(index)", peer: "10.0.0.9", nowMilliseconds: 0) }
    let refusal = throttle.admit(clientID: "client-never-tried", peer: "10.0.0.9", nowMilliseconds: 1)
    #expect(refusal?.scope == .peer && refusal?.key == "10.0.0.9" && refusal?.retryAfterMilliseconds == 999)
    #expect(throttle.admit(clientID: "client-never-tried", peer: "10.0.0.10", nowMilliseconds: 1) == nil, "other peers are not")
  }

  @Test func aSuccessClearsTheClientsCountButNotThePeers() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for _ in 0..<3 { _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 0) }
    throttle.recordSuccess(clientID: "payments")
    // The client starts again from nothing; the peer is one failure from its limit.
    #expect(throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 1) != .recordAttempt)
    let refusal = throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 2)
    #expect(refusal?.scope == .peer)
    #expect(throttle.admit(clientID: "payments", peer: "10.0.0.2", nowMilliseconds: 2) == nil)
  }

  @Test func anAttackIsSummarizedOncePerWindowWithItsRefusals() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for _ in 0..<3 { _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 0) }
    // The first failure beyond the allowance summarizes both counts.
    guard case let .summarize(first) = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 0) else {
      Issue.record("no summary at the start of the attack")
      return
    }
    #expect(first.map(\.scope) == [.clientID, .peer] && first.allSatisfy { $0.failures == 4 && $0.delayMilliseconds == 1000 })
    // Refused and failed attempts within the window add up silently.
    for _ in 0..<5 { #expect(throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 10) != nil) }
    #expect(throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 1000) == .summarize([]))
    // After the window, the next failure summarizes what the window saw.
    for _ in 0..<2 { _ = throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 2000) }
    let later = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 61_000)
    #expect(later == .summarize([
      .init(scope: .clientID, key: "payments", failures: 6, refusedSinceLastSummary: 7, delayMilliseconds: 4000),
      .init(scope: .peer, key: "10.0.0.1", failures: 6, refusedSinceLastSummary: 7, delayMilliseconds: 4000),
    ]))
    #expect(throttle.refusedAttempts()[.clientID] == 7)
  }

  @Test func aQuietWindowForgetsTheFailures() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for _ in 0..<5 { _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 0) }
    #expect(throttle.throttledKeys(nowMilliseconds: 1) == [.clientID: 1, .peer: 1])
    #expect(throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 60_001) == .recordAttempt)
    #expect(throttle.admit(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 60_002) == nil)
  }

  @Test func theTablesStayWithinTheirBoundUnderASprayOfClientIDs() {
    let throttle = AuthenticationThrottle(policy: Self.policy)
    for index in 0..<1000 {
      _ = throttle.recordFailure(clientID: "spray-\(index)", peer: "10.1.\(index / 256).\(index % 256)", nowMilliseconds: Int64(index))
    }
    let tracked = throttle.trackedKeyCounts()
    #expect(tracked.clients <= 100 && tracked.peers <= 100 && tracked.clients >= 90)
    // A client being guessed at right now is still counted.
    for _ in 0..<4 { _ = throttle.recordFailure(clientID: "payments", peer: "10.0.0.1", nowMilliseconds: 1000) }
    #expect(throttle.admit(clientID: "payments", peer: "10.0.0.2", nowMilliseconds: 1001)?.scope == .clientID)
  }
}
