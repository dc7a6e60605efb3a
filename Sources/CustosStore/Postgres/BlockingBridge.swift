import Dispatch
import Synchronization

/// Runs async database work for callers that must block (the storage protocols are synchronous).
///
/// The work runs on a task executor of its own, never on Swift's cooperative pool: a caller blocked on
/// the cooperative pool would otherwise wait for work that needs that pool to run (postgres-nio's
/// connection pool runs as a task), and two such callers on two cores would deadlock the process.
final class BlockingBridge: Sendable {
  let executor = DispatchTaskExecutor(label: "custos.store.postgres")

  /// Runs `work` on the bridge's executor and waits for its result.
  func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task(executorPreference: executor) {
      let outcome: Result<T, any Error>
      do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
      result.withLock { $0 = outcome }
      done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
  }

  /// Starts long-running work (the connection pool) on the bridge's executor.
  func start(_ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
    Task(executorPreference: executor) { await work() }
  }
}

/// A task executor on a concurrent dispatch queue: threads of its own, outside the cooperative pool.
final class DispatchTaskExecutor: TaskExecutor {
  private let queue: DispatchQueue

  init(label: String) { queue = DispatchQueue(label: label, attributes: .concurrent) }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}

/// A non-Sendable value handed to work that `BlockingBridge.run` runs while its owner waits.
///
/// `@unchecked Sendable` is sound only there: `run` blocks its caller until the work has finished, so
/// the value is used by one thread at a time and never after the caller's frame returns.
struct WaitingCallerValue<Value>: @unchecked Sendable {
  let value: Value
}
