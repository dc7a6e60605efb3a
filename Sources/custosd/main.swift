import ArgumentParser
import CustosCrypto
import CustosServer
import Foundation
import Logging

/// The Custos daemon.
@main
struct CustosDaemonCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "custosd",
    abstract: "Custos: authorization decisions, a tamper-evident audit ledger, keys and tokens for automation services.",
    discussion: """
      Settings come from defaults, then --config FILE (a JSON object), then CUSTOS_* environment variables
      (CUSTOS_LISTEN, CUSTOS_HTTP_LISTEN, CUSTOS_DATA_DIR, CUSTOS_POLICIES_DIR, CUSTOS_KEYS_DIR,
      CUSTOS_LOG_LEVEL, CUSTOS_LEDGER_ORIGIN, CUSTOS_MAX_ENTRY_BYTES, CUSTOS_ROOT_PASSPHRASE_FILE,
      CUSTOS_AUTO_INIT, CUSTOS_KEY_MAINTENANCE_INTERVAL, CUSTOS_AUDIT_CONTEXT_VALUES, CUSTOS_AUTHENTICATION, CUSTOS_STORE,
      CUSTOS_DATABASE_URL, CUSTOS_DATABASE_PASSWORD_FILE), then these flags.

      With --store postgres several custosd nodes share one PostgreSQL database: the database password is
      read from CUSTOS_DATABASE_PASSWORD (removed from the environment once read) or database_password_file
      (mode 0600), never from a flag.

      The root key unseals at start from CUSTOS_ROOT_PASSPHRASE (removed from the environment once read)
      or --root-passphrase-file; otherwise custosd starts sealed and waits for `custos operator unseal`.
      """)

  @Option(help: "A JSON configuration file.") var config: String?
  @Option(help: "gRPC listen address, HOST:PORT (default 127.0.0.1:7443).") var listen: String?
  @Option(help: "HTTP side-port address for /healthz, HOST:PORT or \"off\" (default 127.0.0.1:7080).") var httpListen: String?
  @Option(help: "sqlite (default: one node, the database in --data-dir) or postgres (several nodes on --database-url).") var store: String?
  @Option(help: "Directory for the SQLite database (default ./data).") var dataDir: String?
  @Option(help: "postgres://USER@HOST:PORT/DATABASE[?sslmode=disable|require|verify-full&sslrootcert=FILE]; the password from CUSTOS_DATABASE_PASSWORD or database_password_file.") var databaseUrl: String?
  @Option(help: "How long one database call may wait before it fails, in milliseconds (default 5000).") var databaseCallTimeoutMs: String?
  @Option(help: "Directory of the active Cedar policy set (default ./policies).") var policiesDir: String?
  @Option(help: "Directory for key files, created 0600 (default ./keys).") var keysDir: String?
  @Option(help: "trace, debug, info, notice, warning, error or critical (default info).") var logLevel: String?
  @Option(help: "Checkpoint origin line (default custos.local/ledger).") var ledgerOrigin: String?
  @Option(help: "A file (mode 0600) holding the root-key passphrase: unseal at start.") var rootPassphraseFile: String?
  @Flag(help: "With a passphrase and no root key yet, create one (development, first install).") var autoInit = false
  @Flag(help: "Start although a witness holds a newer or forked checkpoint (a restored older copy); the first entry records it.") var acceptRollback = false
  @Option(help: "required (default) or off: off serves every RPC without a token (benchmarks only).") var authentication: String?
  @Option(help: "PEM certificate chain for TLS on the gRPC port.") var tlsCertFile: String?
  @Option(help: "PEM private key for TLS (mode 0600).") var tlsKeyFile: String?
  @Option(help: "PEM CA bundle: require client certificates it signed (mutual TLS).") var tlsClientCaFile: String?

  func run() async throws {
    var overrides: [Configuration.Key: String] = [:]
    overrides[.listen] = listen
    overrides[.httpListen] = httpListen
    overrides[.store] = store
    overrides[.dataDir] = dataDir
    overrides[.databaseURL] = databaseUrl
    overrides[.databaseCallTimeout] = databaseCallTimeoutMs
    overrides[.policiesDir] = policiesDir
    overrides[.keysDir] = keysDir
    overrides[.logLevel] = logLevel
    overrides[.ledgerOrigin] = ledgerOrigin
    overrides[.rootPassphraseFile] = rootPassphraseFile
    if autoInit { overrides[.autoInit] = "true" }
    if acceptRollback { overrides[.acceptRollback] = "true" }
    overrides[.authentication] = authentication
    overrides[.tlsCert] = tlsCertFile
    overrides[.tlsKey] = tlsKeyFile
    overrides[.tlsClientCA] = tlsClientCaFile
    // The passphrase is a secret: read once, out of the environment (children must not inherit it),
    // and kept out of Configuration, which is printable.
    var rootPassphrase: SecretBytes?
    if var value = ProcessInfo.processInfo.environment["CUSTOS_ROOT_PASSPHRASE"].map({ Array($0.utf8) }) {
      rootPassphrase = SecretBytes(consuming: &value)
      unsetenv("CUSTOS_ROOT_PASSPHRASE")
    }
    var databasePassword: SecretBytes?
    if var value = ProcessInfo.processInfo.environment["CUSTOS_DATABASE_PASSWORD"].map({ Array($0.utf8) }) {
      databasePassword = SecretBytes(consuming: &value)
      unsetenv("CUSTOS_DATABASE_PASSWORD")
    }
    let configuration: Configuration
    do {
      configuration = try Configuration.load(file: config, environment: ProcessInfo.processInfo.environment, overrides: overrides)
    } catch {
      throw ValidationError("configuration: \(error)")
    }
    let level = configuration.logLevel
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "custosd")
    do {
      try await Daemon.run(
        configuration: configuration, rootPassphrase: rootPassphrase, databasePassword: databasePassword, logger: logger)
    } catch {
      logger.critical("custosd cannot run: \(error)")
      throw ExitCode(1)
    }
  }
}
