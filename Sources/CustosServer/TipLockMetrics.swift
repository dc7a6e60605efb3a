import CustosStore
import Prometheus

/// How batches fared at the shared ledger's tip (PostgreSQL store), for `/metrics`: how long each
/// waited for and held the tip lock (the hold bounds how many batches per second the whole cluster can
/// commit), and how many attempts lost to another node's batch or took the locking path.
final class TipLockMetrics: Sendable {
  private let wait: DurationHistogram
  private let hold: DurationHistogram
  private let lost: Counter
  private let lockedFirst: Counter

  init(registry: PrometheusCollectorRegistry) {
    let buckets: [Duration] = [
      .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
      .milliseconds(10), .milliseconds(25), .milliseconds(100), .seconds(1),
    ]
    wait = registry.makeDurationHistogram(
      descriptor: .custos(
        "custos_ledger_tip_lock_wait_seconds", help: "Time a batch waited for the shared ledger's tip lock once its rows were written (PostgreSQL store)."),
      buckets: buckets)
    hold = registry.makeDurationHistogram(
      descriptor: .custos(
        "custos_ledger_tip_lock_hold_seconds",
        help: "Time a batch held the shared ledger's tip lock, to the commit's answer (PostgreSQL store; one network round trip included)."),
      buckets: buckets)
    lost = registry.makeCounter(
      descriptor: .custos(
        "custos_ledger_tip_races_lost_total", help: "Batch writes that lost to another node's batch and were rebuilt (nothing written)."))
    lockedFirst = registry.makeCounter(
      descriptor: .custos(
        "custos_ledger_tip_locked_batches_total", help: "Batches that took the locking path after losing races (PostgreSQL store)."))
  }

  var record: @Sendable (TipLockEvent) -> Void {
    { [wait, hold, lost, lockedFirst] event in
      switch event {
      case .committed(let waited, let held, let locking):
        wait.record(waited)
        hold.record(held)
        if locking { lockedFirst.increment() }
      case .lost:
        lost.increment()
      }
    }
  }
}
