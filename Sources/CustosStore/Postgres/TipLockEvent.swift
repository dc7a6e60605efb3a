/// What became of one attempt to write a batch onto the shared ledger's tip (PostgreSQL store), for
/// `/metrics` and the cluster benchmark.
public enum TipLockEvent: Sendable, Equatable {
  /// The batch was committed. `wait`: how long it waited for the tip row once its rows were written
  /// (or, on the locking path, for the lock); `hold`: from holding the tip row to the commit's answer,
  /// one network round trip included (an upper bound). `lockedFirst`: it took the locking path.
  case committed(wait: Duration, hold: Duration, lockedFirst: Bool)
  /// A one-statement write lost to another node's batch: nothing was written, and it is rebuilt on
  /// the tip that node wrote.
  case lost
}
