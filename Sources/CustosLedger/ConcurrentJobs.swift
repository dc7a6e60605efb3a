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
