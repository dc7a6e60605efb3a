import Synchronization

/// Counts encryptions under one key version against the NIST SP 800-38D limit for random 96-bit nonces.
///
/// Uses are reserved in blocks that are persisted before they are handed out, so after a restart the
/// count resumes from the reservation: it can over-count by at most a block, never under-count.
final class UsageCounter: Sendable {
  private let counts: Mutex<(used: UInt64, reserved: UInt64)>

  /// A counter that treats everything reserved so far as used.
  init(reserved: UInt64) { counts = Mutex((reserved, reserved)) }

  var used: UInt64 { counts.withLock { $0.used } }

  /// Takes one use. Returns false when `limit` uses are spent (the caller rotates). `persist` stores a new
  /// reservation; if it throws, no use is taken.
  func take(limit: UInt64, block: UInt64, persist: (UInt64) throws(KeyError) -> Void) throws(KeyError) -> Bool {
    try counts.withLock { (counts: inout (used: UInt64, reserved: UInt64)) throws(KeyError) -> Bool in
      guard counts.used < limit else { return false }
      if counts.used == counts.reserved {
        let through = min(limit, counts.reserved + max(block, 1))
        try persist(through)
        counts.reserved = through
      }
      counts.used += 1
      return true
    }
  }
}
