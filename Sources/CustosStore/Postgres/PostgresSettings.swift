import Foundation
import NIOSSL
import PostgresNIO

/// Where and how to reach the PostgreSQL database: parsed from `database_url`
/// (`postgres://user@host:port/db?sslmode=...`), with the password given apart from it.
///
/// `description` never includes the password.
public struct PostgresSettings: Sendable, CustomStringConvertible {
  /// TLS to the database server, as libpq's `sslmode` names it.
  public enum TLSMode: Sendable, Equatable {
    case disable
    /// Encrypted, the server's certificate not checked.
    case require
    /// Encrypted, the certificate checked against `sslrootcert` (or the system's roots) and the host name.
    case verifyFull(rootCertificateFile: String?)
  }

  public var host: String
  public var port: Int
  public var username: String
  public var database: String
  public var password: String?
  public var tls: TLSMode
  /// Connections each node keeps to the database at most.
  public var maximumConnections = 16
  /// How long one storage call may wait for the database before it fails (the ledger then answers
  /// UNAVAILABLE: nothing hangs while the database is away).
  public var callTimeout: Duration = .seconds(10)

  /// Parses `url`; `password` comes from the environment or a file, never from the URL.
  public init(url: String, password: String?) throws(StoreError) {
    func bad(_ why: String) -> StoreError { .badSetting(name: "database_url", reason: why) }
    guard let components = URLComponents(string: url), let scheme = components.scheme else {
      throw bad("not a URL; expected postgres://user@host:port/database")
    }
    guard scheme == "postgres" || scheme == "postgresql" else { throw bad("the scheme must be postgres://, not \(scheme)://") }
    guard components.password == nil else {
      throw bad("it must not hold a password: give it in CUSTOS_DATABASE_PASSWORD or database_password_file")
    }
    guard let user = components.user, !user.isEmpty else { throw bad("it names no user (postgres://USER@host:port/database)") }
    guard let host = components.host, !host.isEmpty else { throw bad("it names no host") }
    let database = String(components.path.drop { $0 == "/" })
    guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (postgres://user@host:port/DATABASE)") }
    let port = components.port ?? 5432
    guard (1...65535).contains(port) else { throw bad("port \(port) is out of range") }
    var mode = "disable"
    var rootCertificate: String?
    for item in components.queryItems ?? [] {
      switch item.name {
      case "sslmode": mode = item.value ?? ""
      case "sslrootcert": rootCertificate = item.value
      default: throw bad("unknown parameter \(item.name) (known: sslmode, sslrootcert)")
      }
    }
    switch mode {
    case "disable": tls = .disable
    case "require": tls = .require
    case "verify-full": tls = .verifyFull(rootCertificateFile: rootCertificate)
    default: throw bad("sslmode \(mode) is not one of disable, require, verify-full")
    }
    if let rootCertificate, !FileManager.default.isReadableFile(atPath: rootCertificate) {
      throw bad("sslrootcert \(rootCertificate) is not readable")
    }
    self.host = host
    self.port = port
    self.username = user
    self.database = database
    self.password = password
  }

  public var description: String {
    var text = "postgres://\(username)@\(host):\(port)/\(database)"
    switch tls {
    case .disable: break
    case .require: text += "?sslmode=require"
    case .verifyFull: text += "?sslmode=verify-full"
    }
    return text
  }

  /// The postgres-nio client configuration these settings describe.
  public func clientConfiguration() -> PostgresClient.Configuration {
    var configuration = PostgresClient.Configuration(
      host: host, port: port, username: username, password: password, database: database,
      tls: tlsConfiguration().map { .require($0) } ?? .disable)
    configuration.options.maximumConnections = maximumConnections
    configuration.options.connectTimeout = .seconds(5)
    configuration.options.additionalStartupParameters = startupParameters
    return configuration
  }

  /// One connection's configuration, outside the pool (the store's probe).
  func connectionConfiguration(connectTimeout: Duration) throws -> PostgresConnection.Configuration {
    let tls: PostgresConnection.Configuration.TLS = try tlsConfiguration().map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
    var configuration = PostgresConnection.Configuration(
      host: host, port: port, username: username, password: password, database: database, tls: tls)
    configuration.options.connectTimeout = TimeAmount(connectTimeout)
    configuration.options.additionalStartupParameters = startupParameters
    return configuration
  }

  /// Acknowledged means flushed to the server's disk, whatever the server's default.
  private var startupParameters: [(String, String)] { [("synchronous_commit", "on"), ("application_name", "custosd")] }

  /// TLS to the server as `tls` asks for it; nil when disabled.
  private func tlsConfiguration() -> TLSConfiguration? {
    switch tls {
    case .disable:
      return nil
    case .require:
      var configuration = TLSConfiguration.makeClientConfiguration()
      configuration.certificateVerification = .none
      return configuration
    case let .verifyFull(file):
      var configuration = TLSConfiguration.makeClientConfiguration()
      if let file { configuration.trustRoots = .file(file) }
      return configuration
    }
  }
}
