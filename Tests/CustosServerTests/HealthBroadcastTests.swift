import Testing

@testable import CustosServer

/// Health watchers are woken on every change and let go at shutdown, including one that arrives
/// after the shutdown began (it would otherwise hold the shutdown for its whole grace period).
@Suite struct HealthBroadcastTests {
  // Before the fix the late subscription never ended: the limit turns that hang into a failure.
  @Test(.timeLimit(.minutes(1))) func subscriptionsEndAtFinishAndLateOnesEndAfterTheirFirstWakeUp() async {
    let broadcast = Broadcast()
    let early = broadcast.subscribe()
    broadcast.signal()
    broadcast.finish()
    var earlyWakeUps = 0
    for await _ in early { earlyWakeUps += 1 }
    #expect(earlyWakeUps == 1, "the first wake-up and the signal coalesce in a one-element buffer")

    let late = broadcast.subscribe()
    broadcast.signal()
    var lateWakeUps = 0
    for await _ in late { lateWakeUps += 1 }
    #expect(lateWakeUps == 1)
  }

  @Test func nothingServesAgainAfterShutdownBegan() {
    let health = HealthService(services: ["custos.v1.Authorization"])
    health.markAllNotServing()
    health.setAllServing(true)
    #expect(health.status(of: "") == .notServing, "nothing serves again after shutdown")
  }
}
