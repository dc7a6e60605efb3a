import Prometheus

/// How long each batch waited for and held the shared ledger's tip lock (PostgreSQL store), for
/// `/metrics`: the hold time bounds how many batches per second the whole cluster can commit.
final class TipLockTimings: Sendable {
  private let wait: DurationHistogram
  private let hold: DurationHistogram

  init(registry: PrometheusCollectorRegistry) {
    let buckets: [Duration] = [
      .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
      .milliseconds(10), .milliseconds(25), .milliseconds(100), .seconds(1),
    ]
    wait = registry.makeDurationHistogram(
      descriptor: .custos("custos_ledger_tip_lock_wait_seconds", help: "Time a batch waited for the shared ledger's tip lock (PostgreSQL store)."),
      buckets: buckets)
    hold = registry.makeDurationHistogram(
      descriptor: .custos("custos_ledger_tip_lock_hold_seconds", help: "Time a batch held the shared ledger's tip lock, commit included (PostgreSQL store)."),
      buckets: buckets)
  }

  var record: @Sendable (Duration, Duration) -> Void {
    { [wait, hold] waited, held in
      wait.record(waited)
      hold.record(held)
    }
  }
}
