import Foundation

/// Runs blocking work (a child process, a store call that may wait seconds) on a thread of its own
/// and suspends until it ends. The tests share Swift's cooperative threads, one per core: a test that
/// blocks one of them for seconds stalls every other test's calls in the process.
public func onAThreadOfItsOwn<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread { continuation.resume(with: Result { try work() }) }.start()
  }
}
