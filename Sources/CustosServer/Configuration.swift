import CustosCrypto
import CustosStore
import CustosTokens
import Foundation
import Logging

/// Everything `custosd` is configured with, built once at start from file → environment → flags and
/// validated before anything opens. Nothing else in the process reads the environment.
public struct Configuration: Sendable, Equatable {
  /// The gRPC listen address.
  public var listen = HostPort(host: "127.0.0.1", port: 7443)
  /// The HTTP side port (/healthz); nil disables it.
  public var httpListen: HostPort? = HostPort(host: "127.0.0.1", port: 7080)
  /// Which store holds the ledger, keys and tokens: the embedded SQLite file (one node) or a shared
  /// PostgreSQL database (several nodes).
  public var store: StoreChoice = .sqlite
  /// Holds the SQLite database.
  public var dataDirectory = "data"
  /// The PostgreSQL database (`store` = postgres): `postgres://user@host:port/db[?sslmode=...]`. Its
  /// password comes from `CUSTOS_DATABASE_PASSWORD` or `database_password_file`, never from here.
  public var databaseURL: String?
  /// A file (0600) holding the database password.
  public var databasePasswordFile: String?
  /// How long one database call may wait before it fails: while the database is away, decisions get
  /// UNAVAILABLE after this long instead of waiting for it.
  public var databaseCallTimeout: Duration = .seconds(5)
  /// The active Cedar policy set.
  public var policiesDirectory = "policies"
  /// Key files (created 0600).
  public var keysDirectory = "keys"
  public var logLevel: Logger.Level = .info
  /// The checkpoint origin line and signed-note key name.
  public var ledgerOrigin = "custos.local/ledger"
  /// Largest canonical ledger entry accepted, in bytes.
  public var maximumEntryBytes = 64 * 1024
  /// A file holding the root-key passphrase (0600): unseal at start without an operator.
  public var rootPassphraseFile: String?
  /// With a passphrase and no root key yet, create one at start (development and first installs).
  public var autoInit = false
  /// How often scheduled key destructions and periodic rotations are carried out.
  public var keyMaintenanceInterval: Duration = .seconds(60)
  /// How long a SIGTERM waits for in-flight calls (streams included) before cancelling them.
  public var shutdownGracePeriod: Duration = .seconds(30)
  /// The largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
  public var maximumRequestBytes = 4 << 20
  /// How long an idempotency key answers retries with the first answer (and is kept), in seconds.
  public var idempotencyWindowSeconds: Int64 = 86_400
  /// Witnesses each new checkpoint is sent to for cosignatures (C2SP tlog-witness).
  public var witnesses: [WitnessEndpoint] = []
  /// How many of `witnesses` must have cosigned the checkpoint a backup or evidence bundle ends at
  /// (nil: all of them).
  public var witnessQuorum: Int?
  /// The witness quorum in force: the setting, or every configured witness.
  public var effectiveWitnessQuorum: Int { witnessQuorum ?? witnesses.count }
  /// Start even though a witness holds a newer (or forked) checkpoint than this log: a restored older
  /// copy. The first entry then says so.
  public var acceptRollback = false
  /// Scheduled backups: how often (nil: none), into which directory, keeping how many.
  public var backupInterval: Duration?
  public var backupDirectory = "backups"
  public var backupRetention = 7
  /// Record encryption-context values in key ledger entries (by default only their keys).
  public var auditContextValues = false
  /// Require a bearer token on every RPC but the bootstrap ones. Off only for benchmarks and experiments.
  public var authentication = true
  /// TLS on the gRPC port: a PEM certificate chain and private key (0600). Both or neither.
  public var tlsCertificateFile: String?
  public var tlsKeyFile: String?
  /// With TLS, require client certificates signed by this PEM CA bundle (mutual TLS).
  public var tlsClientCAFile: String?
  /// Argon2id cost for client secrets (OWASP's minimum by default).
  public var clientSecretArgon2 = Argon2id.Parameters.owaspMinimum
  /// How failed `IssueToken` attempts are held back, per client id and per peer address.
  public var authenticationThrottle = AuthenticationThrottle.Policy()
  /// Clock skew allowed when checking token times, in seconds.
  public var tokenSkewSeconds: Int64 = 60
  /// How long a new token signing key is published before it signs, in seconds.
  public var signingKeyLeadSeconds: Int64 = 3600
  /// Test-only: exit the process at this named step (e.g. `rotate-root.committed`) to test crash safety.
  public var failpoint: String?

  public init() {}

  /// Where a node keeps its state.
  public enum StoreChoice: String, Sendable, Equatable {
    case sqlite, postgres
  }

  /// Checks the settings that only make sense together.
  public func validated() throws(Invalid) -> Configuration {
    let throttle = authenticationThrottle
    // A count forgotten while its delay still runs would lift the delay early.
    guard throttle.windowSeconds * 1000 >= throttle.maximumDelayMilliseconds, throttle.firstDelayMilliseconds <= throttle.maximumDelayMilliseconds else {
      throw Invalid(
        "token_failure_window_seconds (\(throttle.windowSeconds)) must be at least token_failure_max_delay_seconds "
          + "(\(throttle.maximumDelayMilliseconds / 1000)), which must be at least token_failure_delay_ms (\(throttle.firstDelayMilliseconds) ms)")
    }
    if let quorum = witnessQuorum, quorum > witnesses.count {
      throw Invalid("witness_quorum (\(quorum)) is more than the \(witnesses.count) configured witnesses: lower it, or add witnesses")
    }
    switch store {
    case .sqlite:
      guard databaseURL == nil else { throw Invalid("database_url is set but store is sqlite: set store to postgres, or remove database_url") }
    case .postgres:
      guard let url = databaseURL else { throw Invalid("store is postgres but database_url is not set (postgres://user@host:port/database)") }
      do { _ = try PostgresSettings(url: url, password: nil) } catch { throw Invalid("\(error)") }
    }
    return self
  }

  /// A configuration error, naming the setting, where it came from and what is accepted.
  public struct Invalid: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
  }

  /// The settings as the file, environment and flags spell them.
  public enum Key: String, CaseIterable, Sendable {
    case listen, httpListen = "http_listen", dataDir = "data_dir", policiesDir = "policies_dir", keysDir = "keys_dir"
    case logLevel = "log_level", ledgerOrigin = "ledger_origin", maxEntryBytes = "max_entry_bytes"
    case rootPassphraseFile = "root_passphrase_file", autoInit = "auto_init"
    case keyMaintenanceInterval = "key_maintenance_interval", auditContextValues = "audit_context_values"
    case shutdownGrace = "shutdown_grace_seconds"
    case failpoint, authentication, tokenSkew = "token_skew_seconds", signingKeyLead = "signing_key_lead_seconds"
    case tlsCert = "tls_cert_file", tlsKey = "tls_key_file", tlsClientCA = "tls_client_ca_file"
    case clientSecretArgon2 = "client_secret_argon2"
    case store, databaseURL = "database_url", databasePasswordFile = "database_password_file"
    case databaseCallTimeout = "database_call_timeout_ms"
    case idempotencyWindow = "idempotency_window_seconds"
    case backupInterval = "backup_interval", backupDir = "backup_dir", backupRetention = "backup_retention"
    case witnesses, witnessQuorum = "witness_quorum", acceptRollback = "accept_rollback"
    case maxRequestBytes = "max_request_bytes"
    case tokenFailuresAllowed = "token_failures_allowed", tokenFailureDelay = "token_failure_delay_ms"
    case tokenFailureMaxDelay = "token_failure_max_delay_seconds", tokenFailureWindow = "token_failure_window_seconds"

    /// The environment variable: `CUSTOS_` + upper-cased key.
    public var environmentName: String { "CUSTOS_" + rawValue.uppercased() }
  }

  /// Builds the configuration: defaults, then the JSON config file (if any), then `CUSTOS_*` environment
  /// variables, then flag overrides. Each layer only sets what it names.
  public static func load(
    file: String?, environment: [String: String], overrides: [Key: String]
  ) throws(Invalid) -> Configuration {
    var configuration = Configuration()
    if let file {
      let object: Any
      do {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        object = try JSONSerialization.jsonObject(with: data)
      } catch {
        throw Invalid("config file \(file): cannot read it as JSON (\(error.localizedDescription))")
      }
      guard let settings = object as? [String: Any] else { throw Invalid("config file \(file): must hold a JSON object") }
      for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
        guard let key = Key(rawValue: name) else {
          throw Invalid("config file \(file): unknown setting \"\(name)\" (known: \(Key.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        try configuration.apply(key, "\(value)", source: "config file \(file)")
      }
    }
    for key in Key.allCases {
      if let value = environment[key.environmentName] {
        try configuration.apply(key, value, source: "environment \(key.environmentName)")
      }
    }
    for key in Key.allCases {
      if let value = overrides[key] { try configuration.apply(key, value, source: "flag --\(key.rawValue.replacingOccurrences(of: "_", with: "-"))") }
    }
    return try configuration.validated()
  }

  mutating func apply(_ key: Key, _ value: String, source: String) throws(Invalid) {
    func fail(_ expected: String) -> Invalid { Invalid("\(source): \"\(value)\" is not \(expected)") }
    switch key {
    case .listen:
      guard let address = HostPort(value) else { throw fail("HOST:PORT") }
      listen = address
    case .httpListen:
      if value == "" || value == "off" { httpListen = nil; return }
      guard let address = HostPort(value) else { throw fail("HOST:PORT or \"off\"") }
      httpListen = address
    case .store:
      guard let choice = StoreChoice(rawValue: value.lowercased()) else { throw fail("sqlite or postgres") }
      store = choice
    case .databaseURL:
      databaseURL = value.isEmpty ? nil : value
    case .databasePasswordFile:
      databasePasswordFile = value.isEmpty ? nil : value
    case .databaseCallTimeout:
      guard let milliseconds = Int(value), (100...600_000).contains(milliseconds) else { throw fail("a number of milliseconds between 100 and 600000") }
      databaseCallTimeout = .milliseconds(milliseconds)
    case .dataDir:
      guard !value.isEmpty else { throw fail("a directory") }
      dataDirectory = value
    case .policiesDir:
      guard !value.isEmpty else { throw fail("a directory") }
      policiesDirectory = value
    case .keysDir:
      guard !value.isEmpty else { throw fail("a directory") }
      keysDirectory = value
    case .logLevel:
      guard let level = Logger.Level(rawValue: value.lowercased()) else {
        throw fail("a log level (trace, debug, info, notice, warning, error, critical)")
      }
      logLevel = level
    case .ledgerOrigin:
      // The origin is the first line of every checkpoint: printable, no spaces or '+' (it is also the note key name).
      guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "+" }) else {
        throw fail("a checkpoint origin (printable ASCII without spaces or '+', e.g. custos.local/ledger)")
      }
      ledgerOrigin = value
    case .maxEntryBytes:
      guard let n = Int(value), (1024...(4 * 1024 * 1024)).contains(n) else { throw fail("a byte count between 1024 and 4194304") }
      maximumEntryBytes = n
    case .rootPassphraseFile:
      rootPassphraseFile = value.isEmpty ? nil : value
    case .autoInit:
      guard let flag = Self.boolean(value) else { throw fail("true or false") }
      autoInit = flag
    case .keyMaintenanceInterval:
      guard let seconds = Int(value), (1...86_400).contains(seconds) else { throw fail("a number of seconds between 1 and 86400") }
      keyMaintenanceInterval = .seconds(seconds)
    case .shutdownGrace:
      guard let seconds = Int(value), (1...3600).contains(seconds) else { throw fail("a number of seconds between 1 and 3600") }
      shutdownGracePeriod = .seconds(seconds)
    case .idempotencyWindow:
      guard let seconds = Int64(value), (60...(30 * 86_400)).contains(seconds) else { throw fail("a number of seconds between 60 and 2592000 (30 days)") }
      idempotencyWindowSeconds = seconds
    case .maxRequestBytes:
      guard let n = Int(value), ((64 << 10)...(64 << 20)).contains(n) else { throw fail("a byte count between 65536 and 67108864") }
      maximumRequestBytes = n
    case .tokenFailuresAllowed:
      guard let count = Int(value), (0...1000).contains(count) else { throw fail("a count between 0 and 1000") }
      authenticationThrottle.allowedFailures = count
    case .tokenFailureDelay:
      guard let milliseconds = Int64(value), (1...60_000).contains(milliseconds) else { throw fail("a number of milliseconds between 1 and 60000") }
      authenticationThrottle.firstDelayMilliseconds = milliseconds
    case .tokenFailureMaxDelay:
      guard let seconds = Int64(value), (1...86_400).contains(seconds) else { throw fail("a number of seconds between 1 and 86400") }
      authenticationThrottle.maximumDelayMilliseconds = seconds * 1000
    case .tokenFailureWindow:
      guard let seconds = Int64(value), (1...(7 * 86_400)).contains(seconds) else { throw fail("a number of seconds between 1 and 604800") }
      authenticationThrottle.windowSeconds = seconds
    case .witnesses:
      var parsed: [WitnessEndpoint] = []
      for item in value.split(separator: ",") {
        do { parsed.append(try WitnessEndpoint(parsing: String(item))) } catch { throw fail("URL VKEY pairs separated by commas (\(error))") }
      }
      witnesses = parsed
    case .witnessQuorum:
      guard let count = Int(value), (1...100).contains(count) else { throw fail("a count of witnesses between 1 and 100") }
      witnessQuorum = count
    case .acceptRollback:
      guard let flag = Self.boolean(value) else { throw fail("true or false") }
      acceptRollback = flag
    case .backupInterval:
      guard let seconds = Int64(value), (0...(30 * 86_400)).contains(seconds) else {
        throw fail("a number of seconds up to 2592000, or 0 for none")
      }
      backupInterval = seconds == 0 ? nil : .seconds(seconds)
    case .backupDir:
      guard !value.isEmpty else { throw fail("a directory") }
      backupDirectory = value
    case .backupRetention:
      guard let count = Int(value), (1...1000).contains(count) else { throw fail("a count between 1 and 1000") }
      backupRetention = count
    case .auditContextValues:
      guard let flag = Self.boolean(value) else { throw fail("true or false") }
      auditContextValues = flag
    case .failpoint:
      failpoint = value.isEmpty ? nil : value
    case .authentication:
      switch value.lowercased() {
      case "required", "on", "true": authentication = true
      case "off", "false": authentication = false
      default: throw fail("\"required\" or \"off\"")
      }
    case .clientSecretArgon2:
      // "m=19456,t=2,p=1": memory in KiB, passes, lanes.
      var parts: [String: UInt32] = [:]
      for item in value.split(separator: ",") {
        let pair = item.split(separator: "=", maxSplits: 1)
        guard pair.count == 2, let number = UInt32(pair[1]) else { throw fail("m=KIB,t=PASSES,p=LANES") }
        parts[String(pair[0])] = number
      }
      guard let m = parts["m"], let t = parts["t"], let p = parts["p"], parts.count == 3, (8 * 1024...(1 << 20)).contains(m),
        (1...16).contains(t), (1...16).contains(p)
      else { throw fail("m=KIB,t=PASSES,p=LANES with m 8192-1048576 (OWASP: m=19456,t=2,p=1)") }
      clientSecretArgon2 = Argon2id.Parameters(memoryKiB: m, iterations: t, parallelism: p)
    case .tlsCert: tlsCertificateFile = value.isEmpty ? nil : value
    case .tlsKey: tlsKeyFile = value.isEmpty ? nil : value
    case .tlsClientCA: tlsClientCAFile = value.isEmpty ? nil : value
    case .tokenSkew:
      guard let seconds = Int64(value), (0...600).contains(seconds) else { throw fail("a number of seconds between 0 and 600") }
      tokenSkewSeconds = seconds
    case .signingKeyLead:
      guard let seconds = Int64(value), (0...(30 * 86_400)).contains(seconds) else { throw fail("a number of seconds between 0 and 2592000") }
      signingKeyLeadSeconds = seconds
    }
  }

  private static func boolean(_ value: String) -> Bool? {
    switch value.lowercased() {
    case "true", "1", "yes", "on": return true
    case "false", "0", "no", "off": return false
    default: return nil
    }
  }
}

/// A host and TCP port, written `HOST:PORT` (`[v6]:PORT` for IPv6).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public init?(_ text: String) {
    guard let colon = text.lastIndex(of: ":") else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
    self.init(host: host, port: port)
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
