import CustosCrypto
import Dispatch
import Foundation

extension CanonicalEntryScanner {
  /// Scans, leaf-hashes and links every complete line (ending in `\n`) of `bytes` — a stretch of a
  /// JSON-lines file of entries — in `slices` runs that the cores share with `sideJobs` more jobs
  /// (`sideJob(0)`, `sideJob(1)`, …: a running hash of the file, say), which start first. `accept` is
  /// asked about every entry's fields (a time range, say). Returns the runs in order and how many bytes
  /// they took (up to and including the last newline).
  public static func linkLines(
    in bytes: UnsafeRawBufferPointer, slices: Int, accept: @escaping @Sendable (Fields) -> Bool = { _ in true },
    sideJobs: Int = 0, sideJob: (Int) -> Void = { _ in }
  ) -> (runs: [LinkedRun], consumed: Int) {
    let consumed = lastNewline(in: bytes).map { $0 + 1 } ?? 0
    // Each run takes the lines that start in its byte range.
    let parts = consumed == 0 ? 0 : max(1, min(slices, consumed / 256))
    let bounds = (0...parts).map { parts == 0 ? 0 : lineStart(in: bytes, atOrAfter: $0 * consumed / parts) }
    var runs = (0..<parts).map { LinkedRun(span: bounds[$0]..<bounds[$0 + 1]) }
    let input = SharedBytes(bytes: bytes)
    ConcurrentJobs.fill(&runs, sideJobs: sideJobs, sideJob: sideJob) { _, run in
      link(input.bytes, into: &run, accept: accept)
    }
    return (runs, consumed)
  }

  /// Fills `run` from its lines, stopping at the first line that breaks the chain.
  private static func link(_ bytes: UnsafeRawBufferPointer, into run: inout LinkedRun, accept: (Fields) -> Bool) {
    var start = run.span.lowerBound
    while start < run.span.upperBound {
      let newline = nextNewline(in: bytes, from: start)!
      guard run.append(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]), accept: { fields, _ in accept(fields) }) else { return }
      start = newline + 1
    }
  }

  /// The first line start at or after `offset`: `offset` itself if a line begins there.
  static func lineStart(in bytes: UnsafeRawBufferPointer, atOrAfter offset: Int) -> Int {
    guard offset > 0 else { return 0 }
    return nextNewline(in: bytes, from: offset - 1).map { $0 + 1 } ?? bytes.count
  }

  /// The offset of the next `\n` at or after `start`.
  public static func nextNewline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
    guard start < bytes.count, let base = bytes.baseAddress, let found = memchr(base + start, 0x0a, bytes.count - start) else {
      return nil
    }
    return UnsafeRawPointer(found) - base
  }

  /// Entries are short, so the last newline is a few hundred bytes from the end at most.
  static func lastNewline(in bytes: UnsafeRawBufferPointer) -> Int? {
    bytes.lastIndex(of: 0x0a)
  }
}

/// Bytes every worker reads and none writes.
private struct SharedBytes: @unchecked Sendable {
  // @unchecked Sendable: read-only for the duration of `concurrentPerform`, which the owner outlives.
  let bytes: UnsafeRawBufferPointer
}
