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
    try run({ (_: @Sendable (Never) async throws -> Never) in try await work() }, answering: { (never: Never) -> Never in })
  }

  /// Runs `work` on the bridge's executor and waits for its result, answering the questions it asks
  /// with `answer` on the caller's own thread, while `work` waits: a store's transaction asks the
  /// caller to build what to write from what it read, without the caller's closure leaving its frame.
  func run<Question: Sendable, Answer: Sendable, T: Sendable>(
    _ work: @escaping @Sendable (_ ask: @escaping @Sendable (Question) async throws -> Answer) async throws -> T,
    answering answer: (Question) throws -> Answer
  ) throws -> T {
    let mailbox = Mailbox<Question, Answer, T>()
    Task(executorPreference: executor) {
      do {
        let value = try await work { question in
          try await withCheckedThrowingContinuation { mailbox.post(.question(question, $0)) }
        }
        mailbox.post(.finished(.success(value)))
      } catch {
        mailbox.post(.finished(.failure(error)))
      }
    }
    while true {
      switch mailbox.take() {
      case let .question(question, reply):
        do { reply.resume(returning: try answer(question)) } catch { reply.resume(throwing: error) }
      case let .finished(result):
        return try result.get()
      }
    }
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

/// Messages from work on the bridge to the thread that waits for it, in order.
private final class Mailbox<Question: Sendable, Answer: Sendable, T: Sendable>: Sendable {
  enum Message: Sendable {
    case question(Question, CheckedContinuation<Answer, any Error>)
    case finished(Result<T, any Error>)
  }

  private let messages = Mutex<[Message]>([])
  private let arrived = DispatchSemaphore(value: 0)

  func post(_ message: Message) {
    messages.withLock { $0.append(message) }
    arrived.signal()
  }

  /// The next message, waiting for it.
  func take() -> Message {
    arrived.wait()
    return messages.withLock { $0.removeFirst() }
  }
}
