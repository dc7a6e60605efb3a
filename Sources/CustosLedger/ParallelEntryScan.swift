import CustosCrypto
import Dispatch
import Foundation

/// One entry's canonical scan and leaf hash.
public struct ScannedEntry: Sendable {
  /// The entry's linked fields, when its bytes are a canonical entry.
  public var fields: CanonicalEntryScanner.Fields?
  /// Why the bytes are not a canonical entry (empty when `fields` is set).
  public var failure = ""
  public var leaf = SHA256Digest.zero

  /// Scans and hashes one entry's bytes.
  public init(scanning entry: UnsafeRawBufferPointer) {
    switch CanonicalEntryScanner.scan(entry) {
    case let .success(fields): self.fields = fields
    case let .failure(failure): self.failure = "not a canonical ledger entry: \(failure.reason) (byte \(failure.offset))"
    }
    leaf = MerkleHashing.leafHash(entry)
  }
}

extension CanonicalEntryScanner {
  /// Scans and leaf-hashes every complete line (ending in `\n`) of `bytes` — a stretch of a JSON-lines
  /// file of entries — in `slices` parts that the cores share, while `alongside` (a running hash of the
  /// whole file, say) runs as one more part, started first. Returns the entries in order, in parts (one
  /// array per slice, so nothing is copied to join them), and how many bytes they took (up to and
  /// including the last newline).
  public static func scanAndHashLines(
    in bytes: UnsafeRawBufferPointer, slices: Int, alongside: () -> Void = {}
  ) -> (entries: [[ScannedEntry]], consumed: Int) {
    guard let end = lastNewline(in: bytes) else {
      alongside()
      return ([], 0)
    }
    let consumed = end + 1
    // Each part takes the lines that start in its byte range.
    let parts = max(1, min(slices, consumed / 256))
    var pieces = [[ScannedEntry]](repeating: [], count: parts)
    withoutActuallyEscaping(alongside) { alongside in
      let sideJob = SideJob(run: alongside)
      pieces.withUnsafeMutableBufferPointer { buffer in
        let out = DisjointWrites(buffer)
        let input = SharedBytes(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<consumed]))
        DispatchQueue.concurrentPerform(iterations: parts + 1) { job in
          guard job > 0 else { return sideJob.run() }
          let part = job - 1
          let bytes = input.bytes
          var start = lineStart(in: bytes, atOrAfter: part * bytes.count / parts)
          let limit = (part + 1) * bytes.count / parts
          var entries: [ScannedEntry] = []
          while start < limit, let newline = nextNewline(in: bytes, from: start) {
            entries.append(ScannedEntry(scanning: UnsafeRawBufferPointer(rebasing: bytes[start..<newline])))
            start = newline + 1
          }
          out.buffer[part] = entries
        }
      }
    }
    return (pieces, consumed)
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

/// An output buffer that parallel workers fill at disjoint indexes.
struct DisjointWrites<Element>: @unchecked Sendable {
  // @unchecked Sendable: each worker writes only the indexes of its own slice, and the buffer is read
  // only after `concurrentPerform` has returned, which waits for every worker.
  let buffer: UnsafeMutableBufferPointer<Element>
  init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// Bytes every worker reads and none writes.
private struct SharedBytes: @unchecked Sendable {
  // @unchecked Sendable: read-only for the duration of `concurrentPerform`, which the owner outlives.
  let bytes: UnsafeRawBufferPointer
}

/// The one job that runs beside the workers.
private struct SideJob: @unchecked Sendable {
  // @unchecked Sendable: called exactly once, by one worker, and `concurrentPerform` returns only after it has.
  let run: () -> Void
}
