import Dispatch
import GRDB
import Synchronization

/// Moves WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the commit that
/// crosses its threshold — copying the WAL into the database file and syncing it before the commit
/// returns —, which cost group commit a fifth of its time. The ledger instead reports how much it
/// wrote, and once about `thresholdBytes` have gathered a PASSIVE checkpoint runs on a connection of
/// its own while the next batch is already being written. It never blocks a writer, and durability is
/// untouched: a commit is durable in the WAL before it returns either way.
final class WALCheckpointer: Sendable {
  /// About SQLite's own default (1,000 pages of 4 KiB).
  static let thresholdBytes = 4 << 20

  private let connection: DatabaseQueue
  private let queue = DispatchQueue(label: "custos.store.wal-checkpoint")
  private let state = Mutex(State())

  private struct State {
    var unsyncedBytes = 0
    var running = false
    var again = false
  }

  init(path: String) throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(5)
    connection = try DatabaseQueue(path: path, configuration: configuration)
  }

  /// Notes `bytes` more committed to the WAL, and starts a checkpoint when enough have gathered (one at
  /// a time: a write that lands during a checkpoint is picked up by one more right after it).
  func committed(bytes: Int) {
    let start = state.withLock { state -> Bool in
      state.unsyncedBytes += bytes
      guard state.unsyncedBytes >= Self.thresholdBytes else { return false }
      state.unsyncedBytes = 0
      guard !state.running else {
        state.again = true
        return false
      }
      state.running = true
      return true
    }
    if start { queue.async { self.run() } }
  }

  private func run() {
    repeat {
      // PASSIVE copies what no reader still needs and never waits; what it leaves, the next one takes.
      _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
    } while state.withLock { state -> Bool in
      if state.again {
        state.again = false
        return true
      }
      state.running = false
      return false
    }
  }
}
