import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `custosd` child process on 127.0.0.1 with throw-away data and keys directories.
final class DaemonProcess: @unchecked Sendable {
  // @unchecked Sendable: `process`, the directories, the ports and `log` (itself Sendable) are set in
  // init and only read afterwards.
  let process = Process()
  let dataDirectory: URL
  let keysDirectory: URL
  private(set) var grpcPort = 0
  private var log: ProcessOutput!

  static var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  static var binary: URL {
    let debug = packageRoot.appendingPathComponent(".build/debug/custosd")
    return debug
  }

  /// The root passphrase the daemons of the tests unseal with at start.
  static let rootPassphrase = "end-to-end passphrase 7731"

  /// Starts a daemon on fresh directories, or on `reusing`'s directories after a restart.
  /// Feature suites run with authentication off (they test their feature); `AuthenticationEndToEndTests`
  /// and the Python interop run with it on, as a real deployment does. Daemons create (or unseal) their
  /// root key at start, so the ledger key sealed under it signs; `sealed` starts one without a
  /// passphrase, as an operator who unseals by hand would.
  init(
    reusing previous: DaemonProcess? = nil, extraArguments: [String] = [], environment: [String: String] = [:],
    authenticated: Bool = false, sealed: Bool = false, httpSidePort: Bool = false
  ) async throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("custos-e2e-\(UUID().uuidString)")
    dataDirectory = previous?.dataDirectory ?? base.appendingPathComponent("data")
    keysDirectory = previous?.keysDirectory ?? base.appendingPathComponent("keys")
    var environment = environment
    var extraArguments = extraArguments
    if !sealed {
      environment["CUSTOS_ROOT_PASSPHRASE"] = environment["CUSTOS_ROOT_PASSPHRASE"] ?? Self.rootPassphrase
      if !extraArguments.contains("--auto-init") { extraArguments.append("--auto-init") }
    }
    process.executableURL = Self.binary
    let policies = extraArguments.contains("--policies-dir") ? [] : ["--policies-dir", Self.packageRoot.appendingPathComponent("policies").path]
    process.arguments = [
      "--listen", "127.0.0.1:0", "--http-listen", httpSidePort ? "127.0.0.1:0" : "off", "--data-dir", dataDirectory.path, "--keys-dir", keysDirectory.path,
    ] + policies + (authenticated ? [] : ["--authentication", "off"]) + extraArguments
    var inherited = ProcessInfo.processInfo.environment
    inherited["CUSTOS_ROOT_PASSPHRASE"] = nil
    process.environment = inherited.merging(environment) { $1 }
    log = ProcessOutput(of: process)
    try process.run()
    grpcPort = try await log.wait(for: process) { Self.port(in: $0) }
    if httpSidePort { self.httpPort = try await log.wait(for: process) { Self.port(in: $0, after: "http listening on 127.0.0.1:") } }
  }

  /// The HTTP side port (/healthz, /metrics), when started with one.
  private(set) var httpPort: Int?

  /// The body of GET `path` on the HTTP side port.
  func httpGet(_ path: String) async throws -> String {
    let port = try #require(httpPort, "started without the HTTP side port")
    let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    return String(decoding: data, as: UTF8.self)
  }

  var output: String { log.value }

  private static func port(in log: String, after marker: String = "grpc listening on 127.0.0.1:") -> Int? {
    guard let range = log.range(of: marker) else { return nil }
    return Int(log[range.upperBound...].prefix { $0.isNumber })
  }

  /// SIGKILL: no chance to flush or clean up.
  func kill() {
    Foundation.kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }

  /// SIGTERM and wait; returns the exit status. A daemon still running after a minute (twice its
  /// default shutdown grace period) is a test failure, with its log, and is killed. Suspends while it
  /// waits (see `ProcessOutput.wait`); `terminate()` is the form for `defer`, which waits for nothing.
  @discardableResult
  func stop() async -> Int32 {
    if process.isRunning { process.terminate() }
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    if process.isRunning {
      Issue.record("custosd did not stop within 60 s of SIGTERM; its log ends:\n\(log.value.suffix(4000))")
      Foundation.kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    return process.terminationStatus
  }

  /// SIGTERM, for `defer` blocks and deinit, where nothing waits for the exit: a thread of its own
  /// reaps the daemon (and kills it after a minute), so the test's thread is not held for a shutdown
  /// that may wait out the grace period of streams left open.
  func terminate() {
    guard process.isRunning else { return }
    process.terminate()
    let process = self.process
    Thread {
      let deadline = Date().addingTimeInterval(60)
      while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
      if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }.start()
  }

  deinit { terminate() }
}

struct DaemonFailure: Error, CustomStringConvertible {
  let log: String
  var description: String { "custosd did not start:\n\(log)" }
}
