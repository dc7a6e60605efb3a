import Foundation

/// How a `CustosClient` reaches Custos and how hard it tries.
public struct CustosClientConfiguration: Sendable {
  /// One `custosd` node.
  public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
      self.host = host
      self.port = port
    }

    /// `host:port` (an IPv6 host in brackets).
    public init(parsing text: String) throws {
      let trimmed = text.trimmingCharacters(in: .whitespaces)
      guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65_535).contains(port) else {
        throw CustosClientError(code: .invalidArgument, message: "endpoint \"\(text)\": expected host:port")
      }
      var host = String(trimmed[..<colon])
      if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
      guard !host.isEmpty else { throw CustosClientError(code: .invalidArgument, message: "endpoint \"\(text)\": no host") }
      self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
  }

  /// TLS to the nodes: the CA that signed their certificates, and a client certificate for mutual TLS.
  public struct TLS: Sendable {
    public var caFile: String
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil) {
      self.caFile = caFile
      self.certificateFile = certificateFile
      self.keyFile = keyFile
    }
  }

  /// How the client proves who it is.
  public enum Credentials: Sendable {
    /// A service client's id and secret: the client gets tokens and refreshes them itself.
    case clientSecret(id: String, secret: String)
    /// A fixed bearer token (it is not refreshed).
    case token(String)
    /// Nothing (a daemon with authentication off, or only the bootstrap RPCs).
    case none

    /// The credentials in a JSON file `{"client_id": ..., "client_secret": ...}` (as `custosd`'s
    /// `initial-admin-credential` and `custos clients create --out` write them).
    public static func file(_ path: String) throws -> Credentials {
      guard let data = FileManager.default.contents(atPath: path),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let id = object["client_id"] as? String, let secret = object["client_secret"] as? String
      else { throw CustosClientError(code: .invalidArgument, message: "\(path): expected a JSON object with client_id and client_secret") }
      return .clientSecret(id: id, secret: secret)
    }
  }

  /// Exponential backoff with full jitter between attempts: attempt n waits a uniformly random time in
  /// [0, min(maximum, initial × multiplier^(n-1))].
  public struct RetryPolicy: Sendable {
    public var maximumAttempts: Int
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    public var multiplier: Double

    public init(maximumAttempts: Int = 6, initialBackoff: Duration = .milliseconds(50), maximumBackoff: Duration = .seconds(2), multiplier: Double = 2) {
      self.maximumAttempts = max(1, maximumAttempts)
      self.initialBackoff = initialBackoff
      self.maximumBackoff = maximumBackoff
      self.multiplier = multiplier
    }

    /// No retries.
    public static let never = RetryPolicy(maximumAttempts: 1)

    /// The wait before attempt `attempt` (2, 3, ...), drawn with full jitter.
    public func backoff(beforeAttempt attempt: Int) -> Duration {
      let ceiling = min(Self.seconds(maximumBackoff), Self.seconds(initialBackoff) * pow(multiplier, Double(max(0, attempt - 2))))
      return .nanoseconds(Int64(Double.random(in: 0...max(0, ceiling)) * 1e9))
    }

    static func seconds(_ duration: Duration) -> Double {
      Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
  }

  /// The nodes, tried in order; a node that fails is skipped until a health check finds it serving.
  public var endpoints: [Endpoint]
  public var tls: TLS?
  public var credentials: Credentials
  public var retry = RetryPolicy()
  /// The most one call may take, all attempts and waits included.
  public var callDeadline: Duration = .seconds(30)
  /// The most one attempt may take.
  public var attemptTimeout: Duration = .seconds(10)
  /// A token is replaced once this fraction of its lifetime has passed.
  public var tokenRefreshFraction = 0.5
  /// The longest wait between reconnection attempts to a node whose connection was lost.
  public var reconnectBackoffLimit: Duration = .seconds(1)
  /// How often nodes marked down are health-checked.
  public var healthCheckInterval: Duration = .seconds(1)
  /// The ledger's verifier key (`custos ledger verifier-key`), to check receipts on the client.
  public var pinnedVerifierKey: String?
  /// Mutations get an idempotency key of their own unless the caller gives one, so every retry is safe.
  public var addIdempotencyKeys = true

  public init(endpoints: [Endpoint], credentials: Credentials = .none, tls: TLS? = nil) {
    self.endpoints = endpoints
    self.credentials = credentials
    self.tls = tls
  }
}
