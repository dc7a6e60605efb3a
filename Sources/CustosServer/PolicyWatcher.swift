import CustosPolicy
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the policy set when its files change (polled) or on SIGHUP.
struct PolicyWatcher: Service {
  let policies: ActivePolicySet
  let logger: Logger
  /// How often the directory's files are checked for changes.
  var interval: Duration = .seconds(1)

  func run() async throws {
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
          _ = try? await policies.reload(trigger: "SIGHUP")
        }
      }
      group.addTask {
        var last = fingerprint()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
          try? await Task.sleep(for: interval)
          let now = fingerprint()
          if now != last {
            last = now
            _ = try? await policies.reload(trigger: "file change")
          }
        }
      }
      try await gracefulShutdown()
      group.cancelAll()
    }
  }

  /// Names, sizes and modification times of the set's files: cheap to compute every second.
  private func fingerprint() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: policies.directory)) ?? []
    return names.sorted().filter(PolicySet.isSourceFile).map { name in
      let attributes = try? FileManager.default.attributesOfItem(atPath: (policies.directory as NSString).appendingPathComponent(name))
      let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
      return "\(name):\(attributes?[.size] ?? 0):\(modified)"
    }
  }
}
