import Foundation

/// The bearer token for calls: issued from the client credentials, replaced after a fraction of its
/// lifetime (and once more when the server says it expired). One issue at a time; never logged.
actor TokenSource {
  typealias Issue = @Sendable (_ id: String, _ secret: String) async throws -> (token: String, lifetime: Duration)

  private let credentials: CustosClientConfiguration.Credentials
  private let refreshFraction: Double
  private var current: (token: String, refreshAt: ContinuousClock.Instant)?
  private var issuing: Task<String, any Error>?

  init(credentials: CustosClientConfiguration.Credentials, refreshFraction: Double) {
    self.credentials = credentials
    self.refreshFraction = min(max(refreshFraction, 0.05), 0.95)
  }

  /// Whether a rejected token can be replaced by a fresh one.
  var refreshes: Bool {
    if case .clientSecret = credentials { return true }
    return false
  }

  /// The token to send, issuing a new one when none is held or the held one is due for refresh.
  func token(issue: @escaping Issue) async throws -> String? {
    switch credentials {
    case .none: return nil
    case let .token(token): return token
    case let .clientSecret(id, secret):
      if let current, ContinuousClock.now < current.refreshAt { return current.token }
      if let issuing { return try await issuing.value }
      let refreshFraction = self.refreshFraction
      let task = Task { () async throws -> String in
        let started = ContinuousClock.now
        let (token, lifetime) = try await issue(id, secret)
        self.store(token, refreshAt: started + lifetime * refreshFraction)
        return token
      }
      issuing = task
      defer { issuing = nil }
      return try await task.value
    }
  }

  /// Forgets `token` (the server rejected it as expired) so the next call gets a new one.
  func reject(_ token: String?) {
    if let token, current?.token == token { current = nil }
  }

  private func store(_ token: String, refreshAt: ContinuousClock.Instant) {
    current = (token, refreshAt)
  }
}
