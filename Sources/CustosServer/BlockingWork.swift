import Dispatch

/// Runs blocking work (long storage walks) on Dispatch's pool instead of the two cooperative threads,
/// so one long verification cannot stall every other RPC.
enum BlockingWork {
  private static let queue = DispatchQueue(label: "custos.blocking", qos: .utility, attributes: .concurrent)

  static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      queue.async { continuation.resume(with: Result { try body() }) }
    }
  }
}
