import CCustosSystem

/// What the C allocator holds: the bytes in use and the free bytes it keeps in its arenas. Resident
/// memory that grows while `live` stays flat is fragmentation, not a leak.
public struct AllocatorStatistics: Sendable, Equatable {
  /// Bytes allocated and not yet freed (large mapped buffers included).
  public var live: Int
  /// Bytes freed into the arenas and kept there for reuse.
  public var freeInArenas: Int

  public init(live: Int, freeInArenas: Int) {
    self.live = live
    self.freeInArenas = freeInArenas
  }

  /// Now (glibc; zero elsewhere). Locks and walks every arena: call it seconds apart, not per call.
  public static func current() -> AllocatorStatistics {
    var live = 0
    var free = 0
    custos_allocator_statistics(&live, &free)
    return AllocatorStatistics(live: live, freeInArenas: free)
  }
}
