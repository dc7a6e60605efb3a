import CustosStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
  public static func freshDatabaseURL() throws -> String { try freshDatabaseURL(on: try url()) }

  /// The URL of a new, empty database on the server at `server`.
  static func freshDatabaseURL(on server: String) throws -> String {
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

  /// Runs a program, failing with its error output if it exits non-zero. (posix_spawn and waitpid:
  /// Foundation's `Process.waitUntilExit` misses the exit of a script that starts a daemon.)
  @discardableResult
  public static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outPath = directory.appendingPathComponent("out").path, errPath = directory.appendingPathComponent("err").path
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let variables = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0)=\($1)" }
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    let envp = variables.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, program, &actions, nil, argv, envp)
    guard spawned == 0 else { throw TestSupportFailure(description: "\(program): cannot start it (error \(spawned))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let errors = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    // Exited normally with status 0.
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
      throw TestSupportFailure(description: "\(program) \(arguments.first ?? ""): \(errors)\(output.isEmpty ? "" : "\n" + output)")
    }
    return output
  }
}

public struct TestSupportFailure: Error, CustomStringConvertible {
  public let description: String
}
