import CustosCrypto
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
