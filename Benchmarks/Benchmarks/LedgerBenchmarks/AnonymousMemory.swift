import Foundation
import Synchronization

/// The peak of the process's anonymous resident memory (`RssAnon` in /proc/self/status, sampled every
/// 2 ms) while `body` runs, in MiB: what a job holds itself. Peak RSS also counts the pages of files
/// it maps, and SQLite maps the database it reads, so an export of 1M entries reads as 680 MB there.
func peakAnonymousMiB(_ body: () throws -> Void) rethrows -> Int {
  let peak = Mutex(anonymousResidentKiB())
  let done = Atomic(false)
  let sampler = Thread {
    while !done.load(ordering: .acquiring) {
      let now = anonymousResidentKiB()
      peak.withLock { $0 = max($0, now) }
      usleep(2_000)
    }
  }
  sampler.start()
  defer { done.store(true, ordering: .releasing) }
  try body()
  let now = anonymousResidentKiB()
  return peak.withLock { max($0, now) } / 1024
}

private func anonymousResidentKiB() -> Int {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") })
  else { return 0 }
  return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
