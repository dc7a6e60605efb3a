import CustosCrypto
import CustosLedger
import CustosStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// `custosd`: opens the store and keys, builds the services and runs them until SIGTERM or SIGINT.
public enum Daemon {
  /// Something that stops the daemon from starting, with what to do about it.
  public struct StartupFailure: Error, CustomStringConvertible {
    public let description: String
  }

  /// Runs until SIGTERM/SIGINT. `onListening` receives the bound gRPC address (useful with port 0).
  public static func run(
    configuration: Configuration, logger: Logger, onListening: @escaping @Sendable (String) -> Void = { _ in }
  ) async throws {
    let ledger = try openLedger(configuration: configuration, logger: logger)
    let policies: ActivePolicySet
    do {
      policies = try await ActivePolicySet(directory: configuration.policiesDirectory, ledger: ledger, logger: logger)
    } catch {
      throw StartupFailure(description: "the policy set in \(configuration.policiesDirectory) does not load: \(error)")
    }
    let health = HealthService(services: ["custos.v1.AuditLog", "custos.v1.Authorization", "custos.v1.PolicyAdmin"])
    let services: [any RegistrableRPCService] = [
      AuditLogService(ledger: ledger), AuthorizationService(policies: policies, ledger: ledger),
      PolicyAdminService(policies: policies), health, try ReflectionService(),
    ]
    let transport = HTTP2ServerTransport.Posix(
      address: try socketAddress(configuration.listen), transportSecurity: .plaintext, config: .defaults)
    let server = GRPCServer(transport: transport, services: services)
    var lifecycle: [any Service] = [
      GRPCServerService(
        server: server, transport: transport, logger: logger, onListening: onListening,
        onShutdown: { health.markAllNotServing() })
    ]
    lifecycle.append(PolicyWatcher(policies: policies, logger: logger))
    if let http = configuration.httpListen {
      lifecycle.append(HTTPSidePort.application(address: http, health: health, logger: logger))
    }
    let group = ServiceGroup(
      configuration: .init(
        services: lifecycle.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    let size = await ledger.size
    logger.info("custosd starting", metadata: [
      "data_dir": "\(configuration.dataDirectory)", "ledger_size": "\(size)",
      "origin": "\(configuration.ledgerOrigin)",
    ])
    try await group.run()
    logger.info("custosd stopped")
  }

  static func openLedger(configuration: Configuration, logger: Logger) throws -> Ledger {
    let fileManager = FileManager.default
    do {
      try fileManager.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    } catch {
      throw StartupFailure(description: "cannot create the data directory \(configuration.dataDirectory): \(error.localizedDescription)")
    }
    let store = try SQLiteStore(path: (configuration.dataDirectory as NSString).appendingPathComponent("custos.sqlite"))
    let signing = try LedgerSigningKey.loadOrCreate(keysDirectory: configuration.keysDirectory)
    if signing.created {
      logger.notice("created a new ledger signing key", metadata: ["file": "\(configuration.keysDirectory)/\(LedgerSigningKey.fileName)"])
    }
    var options = Ledger.Options()
    options.limits.maximumEntryBytes = configuration.maximumEntryBytes
    do {
      return try Ledger(
        storage: store.ledgerStorage, signer: NoteSigner(name: configuration.ledgerOrigin, privateKey: signing.key), options: options)
    } catch LedgerError.invalidArgument(let why) {
      throw StartupFailure(description: """
        the latest checkpoint in \(configuration.dataDirectory) does not verify with \
        \(configuration.keysDirectory)/\(LedgerSigningKey.fileName) and origin \(configuration.ledgerOrigin): \(why). \
        Start with the keys directory and origin this ledger was created with.
        """)
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
