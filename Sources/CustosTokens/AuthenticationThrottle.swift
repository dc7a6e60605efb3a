import Synchronization

/// Slows down guessing of client secrets: failed authentications are counted per client id and per
/// peer address, and once either has failed more than `allowedFailures` times within `window`, it must
/// wait before its next attempt, the wait doubling with every further failure up to `maximumDelay`.
///
/// The check runs before any Argon2id work, so a throttled caller costs a table lookup. A success
/// clears its client id's count but not its peer's: a peer holding one valid secret must not be able
/// to wash out its guesses at other clients. Both tables are bounded (`maximumTrackedKeys` each);
/// when one is full, forgotten and then least recently failed keys give way.
public final class AuthenticationThrottle: Sendable {
  /// How hard the throttle holds back.
  public struct Policy: Sendable, Equatable {
    /// Failures tolerated (per client id and per peer) before any delay.
    public var allowedFailures: Int
    /// The delay after the first failure beyond those, in milliseconds; it doubles with each further one.
    public var firstDelayMilliseconds: Int64
    /// The longest delay, in milliseconds.
    public var maximumDelayMilliseconds: Int64
    /// Failures older than this many seconds are forgotten, and an attacked key's summary is
    /// recorded at most once in it.
    public var windowSeconds: Int64
    /// Keys kept per table.
    public var maximumTrackedKeys: Int

    public init(
      allowedFailures: Int = 5, firstDelayMilliseconds: Int64 = 1000, maximumDelayMilliseconds: Int64 = 300_000,
      windowSeconds: Int64 = 900, maximumTrackedKeys: Int = 65_536
    ) {
      self.allowedFailures = allowedFailures
      self.firstDelayMilliseconds = firstDelayMilliseconds
      self.maximumDelayMilliseconds = maximumDelayMilliseconds
      self.windowSeconds = windowSeconds
      self.maximumTrackedKeys = maximumTrackedKeys
    }
  }

  /// Which count held a caller back.
  public enum Scope: String, Sendable {
    case clientID = "client_id"
    case peer
  }

  /// A caller that must wait.
  public struct Refusal: Sendable, Equatable {
    public let scope: Scope
    /// The client id or peer address that is throttled.
    public let key: String
    /// Milliseconds until the next attempt is admitted (at least 1).
    public let retryAfterMilliseconds: Int64
  }

  /// What an attacked key has seen since its last summary: written to the ledger once per window
  /// instead of one entry per attempt.
  public struct AttackSummary: Sendable, Equatable {
    public let scope: Scope
    public let key: String
    /// Failed authentications counted in the current window.
    public let failures: Int
    /// Attempts refused without checking the secret since the last summary.
    public let refusedSinceLastSummary: Int
    /// The delay now imposed, in milliseconds.
    public let delayMilliseconds: Int64
  }

  /// What a failed attempt means for the audit trail.
  public enum FailureRecording: Sendable, Equatable {
    /// Below the threshold: record this attempt as usual.
    case recordAttempt
    /// Under attack: record these summaries (possibly none, when this window already has one).
    case summarize([AttackSummary])
  }

  private struct Counter {
    var failures = 0
    var lastFailureMilliseconds: Int64 = 0
    var blockedUntilMilliseconds: Int64 = 0
    var refusedSinceSummary = 0
    var lastSummaryMilliseconds: Int64?
  }

  private struct Tables {
    var clients: [String: Counter] = [:]
    var peers: [String: Counter] = [:]
    var refusedTotal: [Scope: Int] = [:]
  }

  public let policy: Policy
  private let tables = Mutex(Tables())

  public init(policy: Policy = Policy()) {
    self.policy = policy
  }

  /// Whether an attempt may check its secret now; a refusal names the longest wait that applies.
  /// Refusals count toward the key's next summary.
  public func admit(clientID: String, peer: String, nowMilliseconds now: Int64) -> Refusal? {
    tables.withLock { tables in
      var refusals: [Refusal] = []
      if let refusal = Self.refusal(&tables.clients, clientID, .clientID, now: now, policy: policy) { refusals.append(refusal) }
      if let refusal = Self.refusal(&tables.peers, peer, .peer, now: now, policy: policy) { refusals.append(refusal) }
      guard let longest = refusals.max(by: { $0.retryAfterMilliseconds < $1.retryAfterMilliseconds }) else { return nil }
      tables.refusedTotal[longest.scope, default: 0] += 1
      return longest
    }
  }

  /// Counts a failed authentication for both keys and says how the audit trail should show it.
  public func recordFailure(clientID: String, peer: String, nowMilliseconds now: Int64) -> FailureRecording {
    tables.withLock { tables in
      let bound = policy.maximumTrackedKeys
      let client = Self.fail(&tables.clients, clientID, .clientID, now: now, policy: policy, bound: bound)
      let peerSummary = Self.fail(&tables.peers, peer, .peer, now: now, policy: policy, bound: bound)
      switch (client, peerSummary) {
      case (.none, .none): return .recordAttempt
      case let (client, peer): return .summarize(Self.dueSummaries([client, peer].compactMap { $0 }, in: &tables, now: now, policy: policy))
      }
    }
  }

  /// Clears the client id's count after a successful authentication (the peer's stays).
  public func recordSuccess(clientID: String) {
    tables.withLock { _ = $0.clients.removeValue(forKey: clientID) }
  }

  /// Keys held back right now, per scope (for `/metrics`).
  public func throttledKeys(nowMilliseconds now: Int64) -> [Scope: Int] {
    tables.withLock { tables in
      [
        .clientID: tables.clients.values.count(where: { $0.blockedUntilMilliseconds > now }),
        .peer: tables.peers.values.count(where: { $0.blockedUntilMilliseconds > now }),
      ]
    }
  }

  /// How many keys each table holds (bounded by `maximumTrackedKeys`).
  func trackedKeyCounts() -> (clients: Int, peers: Int) {
    tables.withLock { ($0.clients.count, $0.peers.count) }
  }

  /// Attempts refused since start, per scope (for `/metrics`).
  public func refusedAttempts() -> [Scope: Int] {
    tables.withLock { $0.refusedTotal }
  }

  /// Milliseconds on a clock that never jumps (wall-clock changes must not lift or extend a delay).
  public static func monotonicMilliseconds() -> Int64 {
    let elapsed = ContinuousClock.now - processStart
    return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
  }

  private static let processStart = ContinuousClock.now

  // MARK: Counting

  private static func refusal(_ table: inout [String: Counter], _ key: String, _ scope: Scope, now: Int64, policy: Policy) -> Refusal? {
    guard var counter = table[key], counter.blockedUntilMilliseconds > now else { return nil }
    counter.refusedSinceSummary += 1
    table[key] = counter
    return Refusal(scope: scope, key: key, retryAfterMilliseconds: max(1, counter.blockedUntilMilliseconds - now))
  }

  /// Counts one failure; returns the key's scope and name when it is now beyond the allowance.
  private static func fail(
    _ table: inout [String: Counter], _ key: String, _ scope: Scope, now: Int64, policy: Policy, bound: Int
  ) -> (Scope, String)? {
    var counter = table[key] ?? Counter()
    if counter.failures > 0, now - counter.lastFailureMilliseconds > policy.windowSeconds * 1000 {
      counter = Counter(lastSummaryMilliseconds: counter.lastSummaryMilliseconds)
    }
    counter.failures += 1
    counter.lastFailureMilliseconds = now
    let excess = counter.failures - policy.allowedFailures
    if excess > 0 {
      counter.blockedUntilMilliseconds = now + delay(afterExcessFailures: excess, policy: policy)
    }
    if table[key] == nil, table.count >= bound { makeRoom(in: &table, now: now, policy: policy) }
    table[key] = counter
    return excess > 0 ? (scope, key) : nil
  }

  /// first × 2^(excess−1), capped, without overflowing.
  static func delay(afterExcessFailures excess: Int, policy: Policy) -> Int64 {
    let doublings = min(excess - 1, 62)
    let (scaled, overflow) = policy.firstDelayMilliseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
    return overflow ? policy.maximumDelayMilliseconds : min(scaled, policy.maximumDelayMilliseconds)
  }

  private static func dueSummaries(_ keys: [(Scope, String)], in tables: inout Tables, now: Int64, policy: Policy) -> [AttackSummary] {
    keys.compactMap { scope, key in
      func summarize(_ table: inout [String: Counter]) -> AttackSummary? {
        guard var counter = table[key] else { return nil }
        if let last = counter.lastSummaryMilliseconds, now - last < policy.windowSeconds * 1000 { return nil }
        let summary = AttackSummary(
          scope: scope, key: key, failures: counter.failures, refusedSinceLastSummary: counter.refusedSinceSummary,
          delayMilliseconds: max(0, counter.blockedUntilMilliseconds - now))
        counter.lastSummaryMilliseconds = now
        counter.refusedSinceSummary = 0
        table[key] = counter
        return summary
      }
      return scope == .clientID ? summarize(&tables.clients) : summarize(&tables.peers)
    }
  }

  /// Drops forgotten keys; if none were, the least recently failed tenth.
  private static func makeRoom(in table: inout [String: Counter], now: Int64, policy: Policy) {
    let horizon = now - max(policy.windowSeconds * 1000, policy.maximumDelayMilliseconds)
    table = table.filter { $0.value.lastFailureMilliseconds >= horizon || $0.value.blockedUntilMilliseconds > now }
    guard table.count >= policy.maximumTrackedKeys else { return }
    let oldest = table.sorted { $0.value.lastFailureMilliseconds < $1.value.lastFailureMilliseconds }.prefix(max(1, table.count / 10))
    for (key, _) in oldest { table.removeValue(forKey: key) }
  }
}
