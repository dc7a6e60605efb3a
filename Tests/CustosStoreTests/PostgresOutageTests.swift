import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// What the PostgreSQL store does while its database is away and when it returns. (PostgreSQL only:
/// the embedded store has no server to lose.)
@Suite struct PostgresOutageTests {
  /// postgres-nio's pool waits up to 60 s between reconnection attempts once the database has been
  /// away a while (about 7 s after 30 s away); the probe the health service runs every second
  /// replaces a pool left waiting, so the store answers within a few seconds of the database's return.
  @Test func theStoreAnswersSoonAfterTheDatabaseReturnsFromALongOutage() async throws {
    let server = TestPostgresInstance(port: 55434)
    try server.start()
    defer { try? server.stop() }
    var settings = try PostgresSettings(url: try server.freshDatabaseURL(), password: TestPostgresServer.password)
    settings.callTimeout = .milliseconds(1500)
    let store = try PostgresStore(settings: settings)
    defer { store.shutdown() }
    let probeTimeout = Duration.seconds(1)
    try await store.probe(within: probeTimeout)

    try server.crash()
    let clock = ContinuousClock()
    let outageEnds = clock.now + .seconds(30)
    while clock.now < outageEnds {
      let asked = clock.now
      await #expect(throws: StoreError.self) { try await store.probe(within: probeTimeout) }
      // A call during the outage fails within its timeout (plus the probe's own connection attempt).
      #expect(clock.now - asked < .seconds(4))
      #expect(throws: StoreError.self) { _ = try store.ledgerStorage.tip() }
      try await Task.sleep(until: asked + .seconds(1))
    }

    try server.resume()
    let resumed = clock.now
    var answered = false
    while !answered && clock.now - resumed < .seconds(20) {
      do {
        try await store.probe(within: probeTimeout)
        answered = true
      } catch {
        try await Task.sleep(for: .seconds(1))
      }
    }
    let took = clock.now - resumed
    #expect(answered)
    #expect(took < .seconds(4), "the store answered \(took) after the database returned (pool replaced \(store.poolReplacements) times)")
    _ = try store.ledgerStorage.tip()
  }
}
