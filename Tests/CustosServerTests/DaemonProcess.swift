import Foundation

/// A real `custosd` child process on 127.0.0.1 with throw-away data and keys directories.
final class DaemonProcess: @unchecked Sendable {
  // @unchecked Sendable: `process` and the directories are set in init and only read afterwards;
  // `log` is guarded by `lock`.
  let process = Process()
  let dataDirectory: URL
  let keysDirectory: URL
  private(set) var grpcPort = 0
  private let lock = NSLock()
  private var log = ""

  static var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  static var binary: URL {
    let debug = packageRoot.appendingPathComponent(".build/debug/custosd")
    return debug
  }

  /// Starts a daemon on fresh directories, or on `reusing`'s directories after a restart.
  /// Feature suites run with authentication off (they test their feature); `AuthenticationEndToEndTests`
  /// and the Python interop run with it on, as a real deployment does.
  init(
    reusing previous: DaemonProcess? = nil, extraArguments: [String] = [], environment: [String: String] = [:],
    authenticated: Bool = false, ledgerKeyFrom other: DaemonProcess? = nil
  ) throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("custos-e2e-\(UUID().uuidString)")
    dataDirectory = previous?.dataDirectory ?? base.appendingPathComponent("data")
    keysDirectory = previous?.keysDirectory ?? base.appendingPathComponent("keys")
    // Nodes of one cluster sign checkpoints with one ledger key.
    if let other, previous == nil {
      try FileManager.default.createDirectory(at: keysDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      let name = "ledger-signing.key"
      try FileManager.default.copyItem(at: other.keysDirectory.appendingPathComponent(name), to: keysDirectory.appendingPathComponent(name))
    }
    process.executableURL = Self.binary
    let policies = extraArguments.contains("--policies-dir") ? [] : ["--policies-dir", Self.packageRoot.appendingPathComponent("policies").path]
    process.arguments = [
      "--listen", "127.0.0.1:0", "--http-listen", "off", "--data-dir", dataDirectory.path, "--keys-dir", keysDirectory.path,
    ] + policies + (authenticated ? [] : ["--authentication", "off"]) + extraArguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardError = pipe
    process.standardOutput = FileHandle.nullDevice
    pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
      let data = handle.availableData
      guard let self, !data.isEmpty else { return }
      self.lock.withLock { self.log += String(decoding: data, as: UTF8.self) }
    }
    try process.run()
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let port = lock.withLock({ Self.port(in: log) }) {
        grpcPort = port
        return
      }
      guard process.isRunning else { break }
      Thread.sleep(forTimeInterval: 0.02)
    }
    process.terminate()
    throw DaemonFailure(log: output)
  }

  var output: String { lock.withLock { log } }

  private static func port(in log: String) -> Int? {
    guard let range = log.range(of: "grpc listening on 127.0.0.1:") else { return nil }
    return Int(log[range.upperBound...].prefix { $0.isNumber })
  }

  /// SIGKILL: no chance to flush or clean up.
  func kill() {
    Foundation.kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }

  /// SIGTERM and wait; returns the exit status.
  @discardableResult
  func terminate() -> Int32 {
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    return process.terminationStatus
  }

  deinit {
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
  }
}

struct DaemonFailure: Error, CustomStringConvertible {
  let log: String
  var description: String { "custosd did not start:\n\(log)" }
}
