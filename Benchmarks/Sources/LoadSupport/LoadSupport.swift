import CustosCrypto
import CustosProtocol
import CustosServer
import Foundation
import Logging
import Synchronization

/// An in-process custosd on a fresh directory with the repository's policies, its root key created at
/// start, for the loopback load tools.
public enum InProcessDaemon {
  /// Starts it; returns the running task, the bound gRPC port and its directory.
  public static func start(
    databasePassword: String? = nil, _ configure: @Sendable (inout CustosServer.Configuration) -> Void = { _ in }
  ) async throws -> (Task<Void, any Error>, Int, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-load-\(UUID().uuidString)")
    var configuration = CustosServer.Configuration()
    configuration.listen = HostPort(host: "127.0.0.1", port: 0)
    configuration.httpListen = nil
    configuration.dataDirectory = directory.appendingPathComponent("data").path
    configuration.keysDirectory = directory.appendingPathComponent("keys").path
    configuration.policiesDirectory = repositoryRoot.appendingPathComponent("policies").path
    configuration.autoInit = true
    configure(&configuration)
    var logger = Logger(label: "custosd")
    logger.logLevel = .warning
    let address = AsyncStream<String>.makeStream()
    let password = databasePassword.map { SecretBytes(copying: Array($0.utf8)) }
    let daemon = Task { [configuration] in
      try await Daemon.run(
        configuration: configuration, rootPassphrase: SecretBytes(copying: Array("load passphrase".utf8)), databasePassword: password,
        logger: logger
      ) { address.continuation.yield($0) }
    }
    var iterator = address.stream.makeAsyncIterator()
    guard let bound = await iterator.next(), let port = Int(bound.split(separator: ":").last!) else { fatalError("no address") }
    return (daemon, port, directory)
  }

  /// The repository's root, from this file's place in it.
  public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
}

/// Calls per second with `inFlight` concurrent callers for `seconds`; prints and returns it.
public func callRate(_ name: String, seconds: Double, inFlight: Int, _ call: @escaping @Sendable () async throws -> Void) async throws -> Double {
  let count = Counter()
  let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
  let start = ContinuousClock.now
  try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<inFlight {
      group.addTask {
        while ContinuousClock.now < deadline {
          try await call()
          count.value.add(1, ordering: .relaxed)
        }
      }
    }
    try await group.waitForAll()
  }
  let perSecond = Double(count.value.load(ordering: .relaxed)) / LoadSupport.seconds(ContinuousClock.now - start)
  print(String(format: "%@: %.0f calls/s (%d in flight)", name, perSecond, inFlight))
  return perSecond
}

/// A duration in seconds.
public func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// A counter shared by concurrent callers.
public final class Counter: Sendable {
  public let value = Atomic<Int>(0)
  public init() {}
}

/// Per-call latencies of a load phase, and what they add up to.
public struct LatencySample: Sendable {
  public var durations: [Duration]
  public var errors: Int
  public var elapsed: Duration

  public init(durations: [Duration], errors: Int, elapsed: Duration) {
    self.durations = durations
    self.errors = errors
    self.elapsed = elapsed
  }

  public var callsPerSecond: Double { Double(durations.count) / seconds(elapsed) }

  /// The `q`-quantile (0...1) in milliseconds.
  public func percentile(_ q: Double) -> Double {
    guard !durations.isEmpty else { return .nan }
    let sorted = durations.sorted()
    return seconds(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) * 1000
  }

  public var summary: String {
    String(format: "%.0f calls/s, p50 %.2f ms, p99 %.2f ms, %d errors", callsPerSecond, percentile(0.5), percentile(0.99), errors)
  }
}

/// Runs `call` from `inFlight` concurrent callers for `seconds`, timing each; errors are counted, not thrown.
public func sampleLatencies(seconds: Double, inFlight: Int, _ call: @escaping @Sendable () async throws -> Void) async -> LatencySample {
  let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
  let start = ContinuousClock.now
  let results = await withTaskGroup(of: ([Duration], Int).self) { group in
    for _ in 0..<inFlight {
      group.addTask {
        var durations: [Duration] = []
        var errors = 0
        while ContinuousClock.now < deadline {
          let begin = ContinuousClock.now
          do {
            try await call()
            durations.append(ContinuousClock.now - begin)
          } catch {
            errors += 1
          }
        }
        return (durations, errors)
      }
    }
    return await group.reduce(into: [([Duration], Int)]()) { $0.append($1) }
  }
  return LatencySample(durations: results.flatMap(\.0), errors: results.reduce(0) { $0 + $1.1 }, elapsed: ContinuousClock.now - start)
}

/// The `index`th command-line argument as a `T`, or `value` when it is missing or does not parse.
public func argument<T: LosslessStringConvertible>(_ index: Int, default value: T) -> T {
  CommandLine.arguments.count > index ? T(CommandLine.arguments[index]) ?? value : value
}

/// The `IssueToken` request of the initial admin client that a daemon started by `InProcessDaemon.start`
/// wrote into `directory`'s keys.
public func initialAdminTokenRequest(daemonDirectory directory: URL) throws -> Custos_V1_IssueTokenRequest {
  let credential = try JSONSerialization.jsonObject(
    with: Data(contentsOf: directory.appendingPathComponent("keys/initial-admin-credential"))) as? [String: String] ?? [:]
  return .with { $0.clientID = credential["client_id"] ?? ""; $0.clientSecret = credential["client_secret"] ?? "" }
}

/// The shipped policies' example decision: may billing-worker refund an invoice (allowed in hours).
public let billingRefundCheck = Custos_V1_CheckRequest.with {
  $0.principal = .with { $0.type = "Service"; $0.id = "billing-worker" }
  $0.action = .with { $0.type = "Action"; $0.id = "refund" }
  $0.resource = .with { $0.type = "Invoice"; $0.id = "inv-1" }
  $0.context = Data("{\"amount_cents\": 1299, \"hour\": 10}".utf8)
}
