import Foundation
import Synchronization

/// What a child process writes to a pipe, gathered as it comes, and a wait for something in it.
final class ProcessOutput: Sendable {
  private let text = Mutex("")

  /// Gathers what `process` writes to its standard error (and standard output, if `both`).
  init(of process: Process, both: Bool = false) {
    let pipe = Pipe()
    process.standardError = pipe
    process.standardOutput = both ? pipe : FileHandle.nullDevice
    pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
      let data = handle.availableData
      guard let self, !data.isEmpty else { return }
      self.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
    }
  }

  var value: String { text.withLock { $0 } }

  /// What `find` finds in the output within 30 s; the process is stopped and its output thrown otherwise.
  /// It waits by suspending, never by blocking: the tests share two cooperative threads (one per
  /// core), and a blocked one stalls every other test's calls in the process.
  func wait<T>(for process: Process, _ find: (String) -> T?) async throws -> T {
    let deadline = Date().addingTimeInterval(30)
    while true {
      if let found = find(value) { return found }
      guard process.isRunning, Date() < deadline else { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    process.terminate()
    throw DaemonFailure(log: value)
  }
}
