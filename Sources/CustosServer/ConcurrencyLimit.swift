/// At most `permits` bodies run at once; the rest wait their turn in order. Bounds memory-hard work
/// (Argon2id needs tens of MiB per run) so a burst of calls cannot exhaust memory.
actor ConcurrencyLimit {
  private var available: Int
  private var waiting: [CheckedContinuation<Void, Never>] = []

  init(permits: Int) {
    precondition(permits > 0)
    available = permits
  }

  /// Runs blocking `body` off the cooperative pool once a permit is free.
  func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    if available > 0 {
      available -= 1
    } else {
      await withCheckedContinuation { waiting.append($0) }
    }
    defer {
      if waiting.isEmpty { available += 1 } else { waiting.removeFirst().resume() }
    }
    return try await BlockingWork.run(body)
  }
}
