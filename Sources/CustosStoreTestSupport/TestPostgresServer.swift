import CustosStore
import Foundation
import Synchronization

/// The throwaway PostgreSQL server the tests share: the one `make test` started
/// (`CUSTOS_TEST_POSTGRES_URL`), or else one started here with `scripts/test-postgres.sh start`, which
/// `make test` (or `scripts/test-postgres.sh stop`) stops. Every test gets an empty database of its own.
public enum TestPostgresServer {
  /// The repository's root, from this file's place in it.
  public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static let script = repositoryRoot.appendingPathComponent("scripts/test-postgres.sh").path

  private static let started = Mutex<String?>(nil)

  /// The server's URL (database `postgres`), starting the server if needed.
  public static func url() throws -> String {
    if let url = ProcessInfo.processInfo.environment["CUSTOS_TEST_POSTGRES_URL"] { return url }
    return try started.withLock { url in
      if let url { return url }
      let output = try run(script, ["start"])
      url = output.trimmingCharacters(in: .whitespacesAndNewlines)
      return url!
    }
  }

  /// The test role's password (a fixture, not a secret).
  public static let password = ProcessInfo.processInfo.environment["CUSTOS_TEST_POSTGRES_PASSWORD"] ?? "custos-test-only"

  /// The URL of a new, empty database.
  public static func freshDatabaseURL() throws -> String {
    let server = try url()
    let name = "custos_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
    try psql(server, "CREATE DATABASE \(name)")
    return server.replacingOccurrences(of: "/postgres", with: "/\(name)")
  }

  /// Settings for a new, empty database.
  public static func freshDatabase() throws -> PostgresSettings {
    try PostgresSettings(url: try freshDatabaseURL(), password: password)
  }

  /// Runs SQL as the test role with psql (several statements allowed); returns what it printed (unaligned, tuples only).
  @discardableResult
  public static func psql(_ url: String, _ sql: String) throws -> String {
    try run("/usr/bin/env", ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], environment: ["PGPASSWORD": password])
  }

  /// Runs a program, failing with its error output if it exits non-zero.
  @discardableResult
  public static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw TestSupportFailure(description: "\(program) \(arguments.first ?? ""): \(String(decoding: errors, as: UTF8.self))")
    }
    return String(decoding: output, as: UTF8.self)
  }
}

public struct TestSupportFailure: Error, CustomStringConvertible {
  public let description: String
}
