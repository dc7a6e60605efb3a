import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// What the PostgreSQL store does while its database is away and when it returns. (PostgreSQL only:
/// the embedded store has no server to lose.)
@Suite struct PostgresOutageTests {
  /// postgres-nio's pool waits up to 60 s between reconnection attempts once the database has been
  /// away a while (about 7 s after 30 s away); the health service pings every second and replaces a
  /// pool left waiting, so the store answers within a few seconds of the database's return.
  @Test func theStoreAnswersSoonAfterTheDatabaseReturnsFromALongOutage() async throws {
    let server = TestPostgresInstance(port: 55434)
    try await server.start()
    defer { try? server.stop() }
    var settings = try PostgresSettings(url: try await server.freshDatabaseURL(), password: TestPostgresServer.password)
    settings.callTimeout = .seconds(3)
    let store = try PostgresStore(settings: settings)
    defer { store.shutdown() }
    let pingTimeout = Duration.seconds(1)
    /// What the health service does each second.
    @Sendable func probe() async throws {
      do {
        try await store.ping(within: pingTimeout)
      } catch {
        guard await store.replacePoolIfStuck(quiet: pingTimeout * 2) else { throw error }
        try await store.ping(within: pingTimeout)
      }
    }
    try await probe()

    try await server.crash()
    let clock = ContinuousClock()
    let outageEnds = clock.now + .seconds(30)
    while clock.now < outageEnds {
      let asked = clock.now
      await #expect(throws: StoreError.self) { try await probe() }
      await #expect(throws: StoreError.self) { _ = try await onAThreadOfItsOwn { try store.ledgerStorage.tip() } }
      try await Task.sleep(until: asked + .seconds(1))
    }

    try await server.resume()
    let resumed = clock.now
    var answered = false
    var directFailures: [String] = []
    while !answered && clock.now - resumed < .seconds(20) {
      do {
        try await probe()
        answered = true
      } catch {
        // Why the probe's own connection did not replace the pool, should the wait be long.
        let tried = clock.now
        do { try await store.answerDirectly(within: settings.callTimeout) } catch {
          directFailures.append("\(PostgresFailure.describe(error)) after \(clock.now - tried)")
        }
        try await Task.sleep(for: .seconds(1))
      }
    }
    let took = clock.now - resumed
    #expect(answered)
    #expect(took < .seconds(5), "the store answered \(took) after the database returned (pool replaced \(store.poolReplacements) times; direct connections failed with \(directFailures))")
    _ = try await onAThreadOfItsOwn { try store.ledgerStorage.tip() }
  }
}
