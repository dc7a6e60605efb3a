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
  func wait<T>(for process: Process, _ find: (String) -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let found = find(value) { return found }
      guard process.isRunning else { break }
      Thread.sleep(forTimeInterval: 0.02)
    }
    process.terminate()
    throw DaemonFailure(log: value)
  }
}
