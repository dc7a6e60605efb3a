import Dispatch

/// Work spread over every core: one job per slot of a results array, beside a few side jobs (the read
/// of the next chunk, a running hash of a file) that start first.
public enum ConcurrentJobs {
  /// Runs `sideJob(0..<sideJobs)` and `job(i, &slots[i])` for every slot, on every core, and returns
  /// when all of them have. A job writes only its own slot.
  public static func fill<Element>(
    _ slots: inout [Element], sideJobs: Int = 0, sideJob: (Int) -> Void = { _ in }, _ job: @Sendable (Int, inout Element) -> Void
  ) {
    withoutActuallyEscaping(sideJob) { sideJob in
      let side = SideJobs(run: sideJob)
      slots.withUnsafeMutableBufferPointer { buffer in
        let out = DisjointWrites(buffer)
        DispatchQueue.concurrentPerform(iterations: sideJobs + buffer.count) { i in
          guard i >= sideJobs else { return side.run(i) }
          job(i - sideJobs, &out.buffer[i - sideJobs])
        }
      }
    }
  }
}

extension ConcurrentJobs {
  /// Runs `first` and `second` at the same time (one of them on another core) and returns both
  /// results once both are done; an error from either is thrown after both have finished.
  public static func overlapping<A, B>(_ first: () throws -> A, _ second: () throws -> B) throws -> (A, B) {
    try withoutActuallyEscaping(first) { first in
      try withoutActuallyEscaping(second) { second in
        let pair = OverlappedPair(first: first, second: second)
        DispatchQueue.concurrentPerform(iterations: 2) { i in pair.run(i) }
        return (try pair.firstResult!.get(), try pair.secondResult!.get())
      }
    }
  }
}

/// Two jobs and their results, for `overlapping`.
private final class OverlappedPair<A, B>: @unchecked Sendable {
  // @unchecked Sendable: job 0 touches only `first`/`firstResult` and job 1 only `second`/`secondResult`,
  // each run exactly once, and the results are read only after `concurrentPerform` has returned.
  let first: () throws -> A
  let second: () throws -> B
  var firstResult: Result<A, any Error>?
  var secondResult: Result<B, any Error>?

  init(first: @escaping () throws -> A, second: @escaping () throws -> B) {
    self.first = first
    self.second = second
  }

  func run(_ job: Int) {
    if job == 0 { firstResult = Result { try first() } } else { secondResult = Result { try second() } }
  }
}

/// An output buffer that parallel workers fill at disjoint indexes.
private struct DisjointWrites<Element>: @unchecked Sendable {
  // @unchecked Sendable: each worker writes only its own index, and the buffer is read only after
  // `concurrentPerform` has returned, which waits for every worker.
  let buffer: UnsafeMutableBufferPointer<Element>
  init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// The jobs that run beside the workers.
private struct SideJobs: @unchecked Sendable {
  // @unchecked Sendable: each side job number is run exactly once, by one worker, and
  // `concurrentPerform` returns only after every job has.
  let run: (Int) -> Void
}
