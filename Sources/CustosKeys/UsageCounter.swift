import Synchronization

/// Counts encryptions under one key version against the NIST SP 800-38D limit for random 96-bit nonces.
///
/// Uses are taken from storage in blocks, atomically, before they are handed out: every node sharing a
/// database draws disjoint blocks from one budget, and after a restart the count resumes past
/// everything reserved. It can over-count by at most a block per node, never under-count.
final class UsageCounter: Sendable {
  /// The next use this counter hands out and the end of the block it owns.
  private let block: Mutex<(next: UInt64, end: UInt64)>

  /// A counter that treats everything reserved so far as used.
  init(reserved: UInt64) { block = Mutex((reserved, reserved)) }

  /// Uses handed out up to this counter's position (every node's reservations before its block included).
  var used: UInt64 { block.withLock { $0.next } }

  /// Takes one use. Returns false when `limit` uses are spent (the caller rotates). `reserve` takes the
  /// next block of up to `size` uses from storage; if it throws, no use is taken.
  func take(limit: UInt64, block size: UInt64, reserve: (UInt64) throws(KeyError) -> Range<UInt64>) throws(KeyError) -> Bool {
    try block.withLock { (owned: inout (next: UInt64, end: UInt64)) throws(KeyError) -> Bool in
      guard owned.next < limit else { return false }
      if owned.next >= owned.end {
        let taken = try reserve(max(size, 1))
        guard !taken.isEmpty, taken.upperBound <= limit else {
          owned = (taken.upperBound, taken.upperBound)
          return false
        }
        owned = (taken.lowerBound, taken.upperBound)
      }
      owned.next += 1
      return true
    }
  }
}
