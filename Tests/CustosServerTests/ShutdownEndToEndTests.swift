import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

/// SIGTERM drains in-flight calls for `shutdown_grace_seconds`, then cancels what is left: a stream its
/// caller never closes cannot keep a node from stopping, and what it decided before is recorded.
@Suite struct ShutdownEndToEndTests {
  @Test func aStreamLeftOpenDoesNotHoldShutdownPastTheGracePeriod() async throws {
    let daemon = try await DaemonProcess(environment: ["CUSTOS_SHUTDOWN_GRACE_SECONDS": "2"])
    let answered = Mutex(0)
    // Why the stream ended before its first answer, if it did (else the wait below would only time out).
    let ended = Mutex<String?>(nil)
    let release = AsyncStream<Void>.makeStream()
    defer { release.continuation.finish() }
    let stream = Task {
      do {
        try await withDaemonClients(port: daemon.grpcPort) { _, client in
          try await Custos_V1_Authorization.Client(wrapping: client).checkStream(
            requestProducer: { writer in
              try await writer.write(AuthorizationEndToEndTests.refund(cents: 100, hour: 10, id: "before-shutdown"))
              // The request side stays open until the test ends: the call never finishes by itself.
              for await _ in release.stream {}
            },
            onResponse: { response in
              for try await _ in response.messages { answered.withLock { $0 += 1 } }
            })
        }
        ended.withLock { $0 = $0 ?? "the stream finished" }
      } catch {
        ended.withLock { $0 = $0 ?? "the stream failed: \(error)" }
      }
    }
    let answerDeadline = ContinuousClock.now + .seconds(30)
    while answered.withLock({ $0 }) == 0, ended.withLock({ $0 }) == nil, ContinuousClock.now < answerDeadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    try #require(answered.withLock { $0 } == 1, "the stream's first decision never came: \(ended.withLock { $0 } ?? "no answer in 30 s")")

    let signalled = ContinuousClock.now
    daemon.process.terminate()
    let exitDeadline = signalled + .seconds(20)
    while daemon.process.isRunning, ContinuousClock.now < exitDeadline { try await Task.sleep(for: .milliseconds(50)) }
    let took = ContinuousClock.now - signalled
    #expect(!daemon.process.isRunning, "custosd still runs \(took) after SIGTERM with a 2 s grace period")
    #expect(took >= .seconds(1), "the open stream was cut without a grace period (\(took))")
    daemon.kill()
    release.continuation.finish()
    _ = await stream.result

    // The decision the stream answered before the shutdown is in the log.
    let restarted = try await DaemonProcess(reusing: daemon)
    defer { restarted.terminate() }
    try await withDaemonClients(port: restarted.grpcPort) { log, _ in
      let entries: [String] = try await log.getEntries(.with { $0.start = 0 }) { response in
        try await response.messages.reduce(into: []) { $0.append(String(decoding: $1.canonical, as: UTF8.self)) }
      }
      #expect(entries.contains { $0.contains("before-shutdown") })
    }
  }
}
