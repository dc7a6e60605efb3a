import Foundation

/// A PostgreSQL server of a test's own (another port and directory than the shared one), for tests
/// that stop the database under load: the shared server must stay up for every other test.
public struct TestPostgresInstance: Sendable {
  public let port: Int

  public init(port: Int) { self.port = port }

  private var environment: [String: String] {
    ["CUSTOS_TEST_PG_PORT": "\(port)", "CUSTOS_TEST_PG_DIR": "/tmp/custos-test-postgres-\(port)"]
  }

  private func script(_ command: String) throws -> String {
    try TestPostgresServer.run(TestPostgresServer.script, [command], environment: environment)
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Starts the server (fresh); returns its URL.
  @discardableResult
  public func start() async throws -> String { try await onAThreadOfItsOwn { try script("start") } }

  /// Stops the server as a crash would (`pg_ctl stop -m immediate`), keeping its data.
  public func crash() async throws { _ = try await onAThreadOfItsOwn { try script("kill") } }

  /// Starts the crashed server again on its data.
  public func resume() async throws { _ = try await onAThreadOfItsOwn { try script("resume") } }

  /// Stops the server and deletes its data.
  public func stop() throws { _ = try script("stop") }

  /// The URL of a new, empty database on this server.
  public func freshDatabaseURL() async throws -> String {
    try await onAThreadOfItsOwn { try TestPostgresServer.freshDatabaseURL(on: try script("url")) }
  }
}
