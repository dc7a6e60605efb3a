import CustosBackup
import CustosCrypto
import CustosKeys
import CustosLedger
import CustosStore
import CustosTokens
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import ServiceLifecycle

/// `custosd`: opens the store and keys, builds the services and runs them until SIGTERM or SIGINT.
public enum Daemon {
  /// Something that stops the daemon from starting, with what to do about it.
  public struct StartupFailure: Error, CustomStringConvertible {
    public let description: String
  }

  /// Runs until SIGTERM/SIGINT. `onListening` receives the bound gRPC address (useful with port 0).
  /// `rootPassphrase` (from the environment) unseals the root key at start, as `root_passphrase_file` does.
  public static func run(
    configuration: Configuration, rootPassphrase: SecretBytes? = nil, databasePassword: SecretBytes? = nil, logger: Logger,
    onListening: @escaping @Sendable (String) -> Void = { _ in }
  ) async throws {
    MemoryTrimService.fixThresholds()
    let registry = PrometheusCollectorRegistry()
    let tipLock = TipLockMetrics(registry: registry)
    let store = try NodeStore.open(configuration, databasePassword: databasePassword, observeTip: tipLock.record, logger: logger)
    defer { store.postgres?.shutdown() }
    let custody = try openLedger(configuration: configuration, store: store, logger: logger)
    let ledger = custody.ledger
    let audit = KeyAudit(ledger: ledger, recordContextValues: configuration.auditContextValues)
    let keys = try openKeyManager(configuration: configuration, store: store, logger: logger)
    let argon2 = ConcurrencyLimit(permits: 1)
    let tokens: TokenAuthority
    do {
      var options = TokenAuthority.Options()
      options.skewSeconds = configuration.tokenSkewSeconds
      options.signingKeyLeadSeconds = configuration.signingKeyLeadSeconds
      options.secretHashing = configuration.clientSecretArgon2
      tokens = try TokenAuthority(storage: store.tokens, sealer: RootKeySigningKeySealer(keys: keys), options: options)
    } catch {
      throw StartupFailure(description: "the token tables in \(store.location) do not load: \(error)")
    }
    // Nodes sharing a database drop what they hold of shared state when another node changes it.
    let policiesReady = PolicySetReference()
    store.postgres?.onSharedStateChange { [logger] change in
      do {
        if change == .keys || change == .all { try keys.reloadKeyrings() }
        if change == .tokens || change == .all { try tokens.reload() }
        if change == .policies || change == .all, let policies = policiesReady.value {
          Task {
            do { _ = try await policies.reload(trigger: "pushed through a node") } catch {
              logger.error("cannot activate the pushed policy set; the previous one keeps serving", metadata: ["error": "\(error)"])
            }
          }
        }
      } catch {
        logger.error("cannot reload shared state after a change by another node", metadata: ["change": "\(change)", "error": "\(error)"])
      }
    }
    let initialized = try await unsealAtStart(
      keys, passphrase: try rootPassphrase ?? readPassphraseFile(configuration.rootPassphraseFile),
      autoInit: configuration.autoInit, audit: audit, custody: custody, argon2: argon2, logger: logger)
    if initialized { try await writeInitialAdminCredential(tokens: tokens, ledger: ledger, keysDirectory: configuration.keysDirectory, logger: logger) }
    if !configuration.witnesses.isEmpty {
      try await refuseRollback(ledger: ledger, witnesses: configuration.witnesses, accept: configuration.acceptRollback, logger: logger)
    }
    let policies: ActivePolicySet
    do {
      policies = try await ActivePolicySet(
        directory: configuration.policiesDirectory, shared: store.postgres?.policySetStorage, ledger: ledger, logger: logger)
    } catch {
      throw StartupFailure(description: "the policy set in \(configuration.policiesDirectory) does not load: \(error)")
    }
    policiesReady.value = policies
    let health = HealthService(services: [
      "custos.v1.AuditLog", "custos.v1.Authorization", "custos.v1.PolicyAdmin", "custos.v1.Keys", "custos.v1.Operator",
      "custos.v1.Tokens", "custos.v1.Reports",
    ])
    let admin = AdminAuthorization(policies: policies, ledger: ledger)
    let idempotency = IdempotentCalls(ledger: ledger, window: configuration.idempotencyWindowSeconds * 1_000_000_000)
    let cosignatures: WitnessCosignatures
    do { cosignatures = try WitnessCosignatures(store: store.cosignatures) } catch {
      throw StartupFailure(description: "the witness cosignatures in \(store.location) do not load: \(error)")
    }
    var backups = BackupService(ledger: ledger, contents: { try backupContents(store, policiesDirectory: configuration.policiesDirectory) })
    var reports = ReportsService(ledger: ledger, admin: admin)
    if !configuration.witnesses.isEmpty {
      // Backups and evidence end at a checkpoint the witnesses cosigned, so both can be checked against them offline.
      let names = Set(configuration.witnesses.map(\.key.name))
      let witnessed = { @Sendable [quorum = configuration.effectiveWitnessQuorum] in cosignatures.newest(quorum: quorum, among: names) }
      backups.cosigned = witnessed
      reports.witnessed = witnessed
    }
    let throttle = AuthenticationThrottle(policy: configuration.authenticationThrottle)
    // Client-secret checks never take more than half the cores, so a flood of guesses (even from many
    // addresses, past the throttle) leaves the rest to decisions.
    let secretCheckPermits = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    let services: [any RegistrableRPCService] = [
      AuditLogService(ledger: ledger, idempotency: idempotency, cosignatures: cosignatures), AuthorizationService(policies: policies, ledger: ledger, idempotency: idempotency),
      PolicyAdminService(policies: policies, admin: admin), KeysService(keys: keys, audit: audit, admin: admin, idempotency: idempotency),
      OperatorService(
        keys: keys, tokens: tokens, audit: audit, custody: custody, idempotency: idempotency, backups: backups, admin: admin, argon2: argon2),
      TokensService(tokens: tokens, ledger: ledger, admin: admin, argon2: ConcurrencyLimit(permits: secretCheckPermits), throttle: throttle),
      reports, health,
      try ReflectionService(),
    ]
    let transport = HTTP2ServerTransport.Posix(
      address: try socketAddress(configuration.listen), transportSecurity: try transportSecurity(configuration),
      config: .defaults { $0.rpc.maxRequestPayloadSize = RequestSizeLimitInterceptor.transportLimit(for: configuration.maximumRequestBytes) },
      eventLoopGroup: TransportWriteBarrier.serverLoops)
    let metrics = ServerMetrics(registry: registry, ledger: ledger, keys: keys, throttle: throttle, database: store.postgres)
    var interceptors: [any ServerInterceptor] = [
      MetricsInterceptor(metrics: metrics), RequestSizeLimitInterceptor(limit: configuration.maximumRequestBytes),
    ]
    if configuration.authentication {
      interceptors.append(AuthenticationInterceptor(tokens: tokens))
    } else {
      logger.warning("AUTHENTICATION IS OFF: every RPC is served to anyone who can reach \(configuration.listen). For benchmarks and local experiments only.")
    }
    let server = GRPCServer(transport: transport, services: services, interceptors: interceptors)
    var lifecycle: [any Service] = [
      GRPCServerService(
        server: server, transport: transport, logger: logger, onListening: onListening,
        onShutdown: { health.markAllNotServing() })
    ]
    // A single node's set is its directory, watched; several nodes' set is in the database, pushed.
    if store.postgres == nil { lifecycle.append(PolicyWatcher(policies: policies, logger: logger)) }
    lifecycle.append(MemoryTrimService(interval: .seconds(10)))
    lifecycle.append(KeyMaintenanceService(
      keys: keys, audit: audit, interval: configuration.keyMaintenanceInterval, logger: logger, tokens: tokens))
    if !configuration.witnesses.isEmpty {
      var publisher = WitnessPublisher(ledger: ledger, witnesses: configuration.witnesses, cosignatures: cosignatures, logger: logger)
      publisher.report = { [registry] witness, size, failed in
        if failed {
          registry.makeCounter(
            descriptor: .custos("custos_witness_failures_total", help: "Checkpoints a witness did not cosign (down, or it refused), by witness."),
            labels: [("witness", witness)]
          ).increment()
        }
        if let size {
          registry.makeGauge(
            descriptor: .custos("custos_witness_cosigned_size", help: "The size of the newest checkpoint each witness cosigned."),
            labels: [("witness", witness)]
          ).set(Double(size))
        }
      }
      lifecycle.append(publisher)
    }
    if let interval = configuration.backupInterval {
      lifecycle.append(ScheduledBackupService(
        backups: backups, directory: configuration.backupDirectory, interval: interval, retention: configuration.backupRetention, logger: logger))
    }
    if let postgres = store.postgres {
      lifecycle.append(DatabaseHealthService(store: postgres, health: health, interval: .seconds(1), logger: logger))
    }
    if let http = configuration.httpListen {
      lifecycle.append(HTTPSidePort.application(address: http, health: health, tokens: tokens, metrics: metrics, logger: logger))
    }
    var groupConfiguration = ServiceGroupConfiguration(
      services: lifecycle.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    // A call that never ends (a stream its caller keeps open) must not keep a node from stopping: after
    // the grace period the calls left are cancelled, and a service that ignores cancellation ends the
    // process, so a supervisor's restart is never blocked.
    groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
    groupConfiguration.maximumCancellationDuration = .seconds(10)
    let group = ServiceGroup(configuration: groupConfiguration)
    let size = await ledger.size
    logger.info("custosd starting", metadata: [
      "store": "\(store.location)", "ledger_size": "\(size)",
      "origin": "\(configuration.ledgerOrigin)", "keys": "\(keys.status)",
    ])
    try await group.run()
    logger.info("custosd stopped")
  }

  static func openLedger(configuration: Configuration, store: NodeStore, logger: Logger) throws -> LedgerKeyCustody {
    var options = Ledger.Options()
    options.limits.maximumEntryBytes = configuration.maximumEntryBytes
    do {
      return try LedgerKeyCustody.openLedger(
        storage: store.ledger, keyStore: store.ledgerSigningKey, origin: configuration.ledgerOrigin,
        keysDirectory: configuration.keysDirectory, options: options, logger: logger)
    } catch let failure as StartupFailure {
      throw failure
    } catch {
      throw StartupFailure(description: "the ledger in \(store.location) does not open: \(error)")
    }
  }

  /// A log smaller than, or inconsistent with, a checkpoint a witness cosigned is a restored older copy
  /// (or a fork): the node does not serve it unless told to, and then the first entry says so.
  static func refuseRollback(ledger: Ledger, witnesses: [WitnessEndpoint], accept: Bool, logger: Logger) async throws {
    guard let checkpoint = try await ledger.freshestCheckpoint() else { return }
    let size = checkpoint.checkpoint.size
    for witness in witnesses {
      switch await WitnessPublisher.submit(checkpoint, old: size, to: witness, ledger: ledger) {
      case let .holds(held) where held >= size:
        let what = held > size
          ? "holds a cosigned checkpoint of size \(held), newer than this log's \(size): this looks like a restored older copy"
          : "holds a different checkpoint of this log's size \(size): the log forked"
        guard accept else {
          throw StartupFailure(description: "witness \(witness.key.name) \(what). Start with --accept-rollback only if this is intended.")
        }
        guard await ledger.canSign else {
          throw StartupFailure(description: "--accept-rollback needs the root key unsealed at start (to record the rollback)")
        }
        _ = try await ledger.append(LedgerEvent(
          kind: "ledger.rollback_accepted", actor: "custosd", action: "accept_rollback", resource: "custos/ledger", outcome: "ok",
          details: ["from_size": .integer(Int64(held)), "to_size": .integer(Int64(size)), "witness": .string(witness.key.name)]))
        logger.critical("started on a rolled-back log (--accept-rollback), recorded in the ledger", metadata: [
          "witness": "\(witness.key.name)", "witness_size": "\(held)", "log_size": "\(size)"])
      case .holds, .cosigned:
        continue
      case let .failed(why):
        logger.warning("a witness could not be asked about rollback at start", metadata: ["witness": "\(witness.key.name)", "error": "\(why)"])
      }
    }
  }

  /// What a backup holds beside the log, as the stores hold it (wrapped and sealed), and the active
  /// policy set's files (the database's on several nodes, the directory's on one).
  static func backupContents(_ store: NodeStore, policiesDirectory: String) throws -> BackupContents {
    var contents = BackupContents()
    contents.keyrings = try store.keys.loadKeyrings()
    contents.rootKeyID = try store.keys.rootKeyID()
    let sealed = try store.sealedRootKey.read()
    contents.sealedRootKey = .init(current: sealed.current, next: sealed.next)
    contents.ledgerSigningKey = try store.ledgerSigningKey.storedSigningKey()
    contents.clients = try store.tokens.loadClients()
    contents.tokenSigningKeys = try store.tokens.loadSigningKeys()
    contents.revocations = try store.tokens.loadRevocations()
    let files = try store.postgres?.policySetStorage.activePolicySet()?.files ?? ActivePolicySet.read(policiesDirectory)
    contents.policyFiles = files.map { .init(name: $0.name, content: $0.bytes) }
    return contents
  }

  static func openKeyManager(configuration: Configuration, store: NodeStore, logger: Logger) throws -> KeyManager {
    var options = KeyManager.Options()
    if let failpoint = configuration.failpoint {
      options.failpoint = { step in
        guard step == failpoint else { return }
        logger.critical("failpoint \(step) reached: exiting as a crash would")
        _exit(86)
      }
    }
    do {
      return try KeyManager(storage: store.keys, rootStore: store.sealedRootKey, options: options)
    } catch {
      let place = configuration.store == .sqlite ? configuration.keysDirectory : store.location
      throw StartupFailure(description: "the sealed root key in \(place) cannot be read: \(error)")
    }
  }

  /// Unseals (or, with `auto_init`, initializes) with a passphrase given at start; without one the
  /// daemon serves sealed and key RPCs answer UNAVAILABLE until an operator unseals.
  @discardableResult
  static func unsealAtStart(
    _ keys: KeyManager, passphrase: SecretBytes?, autoInit: Bool, audit: KeyAudit, custody: LedgerKeyCustody, argon2: ConcurrencyLimit,
    logger: Logger
  ) async throws -> Bool {
    guard let passphrase else {
      let signs = await custody.ledger.canSign
      let what = signs ? "key RPCs are unavailable" : "nothing can be recorded (so no decision or key RPC is served)"
      if keys.status == .uninitialized {
        logger.notice("no root key yet: \(what) until `custos operator init`")
      } else {
        logger.notice("started sealed: \(what) until `custos operator unseal`")
      }
      return false
    }
    let initialize = keys.status == .uninitialized
    if initialize && !autoInit {
      throw StartupFailure(description: "a root passphrase was given but no root key exists: run `custos operator init`, or set auto_init")
    }
    do {
      let (id, _) = try await audit.audited(initialize ? "root_init" : "unseal", caller: "custosd", keyring: nil, details: ["method": .string("passphrase")]) {
        () async throws -> String in
        let id = try await OperatorService.blocking(argon2) { initialize ? try keys.initialize(passphrase: passphrase) : try keys.unseal(passphrase: passphrase) }
        try await custody.unlock(keys)
        return id
      } describe: { ["root_key_id": .string($0)] }
      logger.notice(initialize ? "created and sealed a new root key" : "unsealed with the configured passphrase", metadata: ["root_key_id": "\(id)"])
      return initialize
    } catch {
      throw StartupFailure(description: "cannot \(initialize ? "initialize" : "unseal") the root key with the configured passphrase: \(error)")
    }
  }

  static let initialAdminCredentialFile = "initial-admin-credential"

  /// With `auto_init` nobody is there to be shown the first admin credential: it goes to a 0600 file in
  /// the keys directory (never to the log), to be moved to a secret store.
  static func writeInitialAdminCredential(tokens: TokenAuthority, ledger: Ledger, keysDirectory: String, logger: Logger) async throws {
    let (client, secret) = try await BlockingWork.run {
      try tokens.createClient(
        id: OperatorService.firstAdminClientID, displayName: "First administrator (created by auto_init)",
        roles: ["Role::\"admin\""], audiences: [tokens.options.audience], tokenTTLSeconds: nil)
    }
    _ = try await ledger.append(LedgerEvent(
      kind: "client.create", actor: "custosd", action: "client.create", resource: "client/\(client.id)", outcome: "ok",
      details: ["roles": .array(client.roles.map { .string($0) }), "first_admin": .bool(true)]))
    do {
      try FileManager.default.createDirectory(atPath: keysDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw StartupFailure(description: "cannot create keys_dir \(keysDirectory): \(error.localizedDescription)")
    }
    let path = (keysDirectory as NSString).appendingPathComponent(initialAdminCredentialFile)
    var document = Array("{\"client_id\":\"\(client.id)\",\"client_secret\":\"".utf8)
    secret.withUnsafeBytes { document.append(contentsOf: $0) }
    document.append(contentsOf: Array("\"}\n".utf8))
    defer { SecretBytes.wipe(&document) }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw StartupFailure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let written = document.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == document.count, fsync(fd) == 0 else { throw StartupFailure(description: "cannot write \(path)") }
    logger.notice("the first admin client credential is in \(path): move it to a secret store and delete the file")
  }

  /// The passphrase file's contents without a trailing newline; it must not be readable by others.
  static func readPassphraseFile(_ path: String?) throws -> SecretBytes? {
    try readSecretFile(path, setting: "root_passphrase_file")
  }

  /// A secret file's contents without a trailing newline; it must not be readable by others.
  static func readSecretFile(_ path: String?, setting: String) throws -> SecretBytes? {
    guard let path else { return nil }
    var status = stat()
    guard stat(path, &status) == 0 else { throw StartupFailure(description: "\(setting) \(path): \(String(cString: strerror(errno)))") }
    guard status.st_mode & 0o077 == 0 else {
      throw StartupFailure(description: "\(setting) \(path) is readable by group or others; run: chmod 600 \(path)")
    }
    guard var bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else {
      throw StartupFailure(description: "\(setting) \(path): cannot read it")
    }
    defer { SecretBytes.wipe(&bytes) }
    var end = bytes.count
    while end > 0, bytes[end - 1] == 0x0a || bytes[end - 1] == 0x0d { end -= 1 }
    return SecretBytes(copying: bytes[0..<end])
  }

  /// Plaintext, TLS, or mutual TLS on the gRPC port, from the configured PEM files (checked here, so a
  /// missing or world-readable key stops the start with a clear message rather than a handshake error).
  static func transportSecurity(_ configuration: Configuration) throws -> HTTP2ServerTransport.Posix.TransportSecurity {
    switch (configuration.tlsCertificateFile, configuration.tlsKeyFile) {
    case (nil, nil):
      guard configuration.tlsClientCAFile == nil else { throw StartupFailure(description: "tls_client_ca_file needs tls_cert_file and tls_key_file") }
      return .plaintext
    case let (certificate?, key?):
      for path in [certificate, key] + (configuration.tlsClientCAFile.map { [$0] } ?? []) {
        guard FileManager.default.isReadableFile(atPath: path) else { throw StartupFailure(description: "TLS file \(path) is not readable") }
      }
      var status = stat()
      guard stat(key, &status) == 0, status.st_mode & 0o077 == 0 else {
        throw StartupFailure(description: "tls_key_file \(key) is readable by group or others; run: chmod 600 \(key)")
      }
      let chain: [TLSConfig.CertificateSource] = [.file(path: certificate, format: .pem)]
      let privateKey: TLSConfig.PrivateKeySource = .file(path: key, format: .pem)
      guard let clientCA = configuration.tlsClientCAFile else { return .tls(certificateChain: chain, privateKey: privateKey) }
      return .mTLS(certificateChain: chain, privateKey: privateKey) { tls in
        tls.trustRoots = .certificates([.file(path: clientCA, format: .pem)])
        tls.clientCertificateVerification = .noHostnameVerification
      }
    default:
      throw StartupFailure(description: "TLS needs both tls_cert_file and tls_key_file")
    }
  }

  static func socketAddress(_ address: HostPort) throws -> GRPCNIOTransportCore.SocketAddress {
    let host = address.host == "localhost" ? "127.0.0.1" : address.host
    if host.contains(":") { return .ipv6(host: host, port: address.port) }
    guard host.split(separator: ".").count == 4, host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) else {
      throw StartupFailure(description: "listen address \(address): the host must be an IPv4 or IPv6 literal (or localhost)")
    }
    return .ipv4(host: host, port: address.port)
  }
}
