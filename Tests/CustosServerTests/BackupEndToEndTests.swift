import CustosProtocol
import CustosStoreTestSupport
import Foundation
import GRPCCore
import Testing

/// Backups of a serving daemon through the CLI, restored into empty directories and started again.
@Suite struct BackupEndToEndTests {
  static let cli = MigrationEndToEndTests.cli

  @Test func aBackupTakenUnderLoadRestoresIntoAWorkingNode() async throws {
    let daemon = try await DaemonProcess()
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("custos-backup-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let file = work.appendingPathComponent("custos.backup").path
    let environment = ["CUSTOS_SERVER": "127.0.0.1:\(daemon.grpcPort)"]
    let (acknowledged, ciphertext, verifierKey) = try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let keys = Custos_V1_Keys.Client(wrapping: client)
      _ = try await keys.createKeyring(.with { $0.name = "payroll" })
      let ciphertext = try await keys.encrypt(.with { $0.keyring = "payroll"; $0.plaintext = Data("salary 4200".utf8) }).ciphertext
      var acknowledged: [Custos_V1_Receipt] = []
      for i in 0..<200 { acknowledged.append(try await log.append(.with { $0.event = auditEvent(i) }).receipt) }
      // Appends keep running while the backup is taken.
      let load = Task {
        var i = 0
        while !Task.isCancelled {
          _ = try? await log.append(.with { $0.event = auditEvent(1000 + i) })
          i += 1
        }
      }
      let output = try TestPostgresServer.run(Self.cli, ["operator", "backup", "--out", file], environment: environment)
      load.cancel()
      #expect(output.contains("wrote \(file)"), "\(output)")
      return (acknowledged, ciphertext, try await log.getVerifierKey(.init()).verifierKey)
    }
    await daemon.stop()
    let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
    #expect(mode == 0o600)
    let verified = try TestPostgresServer.run(Self.cli, ["operator", "backup", "verify", file, "--verifier-key", verifierKey])
    #expect(verified.contains("ok:"), "\(verified)")

    let data = work.appendingPathComponent("data").path, keys = work.appendingPathComponent("keys").path
    let policies = work.appendingPathComponent("policies").path
    _ = try TestPostgresServer.run(Self.cli, [
      "operator", "restore", file, "--data-dir", data, "--keys-dir", keys, "--policies-dir", policies, "--verifier-key", verifierKey,
    ])
    // A node on the restored directories unseals with the same passphrase and serves the same log.
    let restored = try await DaemonProcess(extraArguments: ["--data-dir", data, "--keys-dir", keys, "--policies-dir", policies])
    try await withDaemonClients(port: restored.grpcPort) { log, client in
      let stored: [UInt64: Data] = try await log.getEntries(.with { $0.start = 0 }) { response in
        try await response.messages.reduce(into: [:]) { $0[$1.index] = $1.leafHash }
      }
      for receipt in acknowledged { #expect(stored[receipt.index] == receipt.leafHash, "entry \(receipt.index) acknowledged before the backup") }
      #expect(try await LedgerKeyEndToEndTests.verified(log))
      #expect(try await log.getVerifierKey(.init()).verifierKey == verifierKey)
      let keys = Custos_V1_Keys.Client(wrapping: client)
      #expect(try await keys.decrypt(.with { $0.keyring = "payroll"; $0.ciphertext = ciphertext }).plaintext == Data("salary 4200".utf8))
      _ = try await log.append(.with { $0.event = auditEvent(9999) })
    }
  }

  @Test func anAlteredBackupIsRefusedAndNothingIsLeftBehind() async throws {
    let daemon = try await DaemonProcess()
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("custos-backup-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let file = work.appendingPathComponent("custos.backup").path
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      for i in 0..<50 { _ = try await log.append(.with { $0.event = auditEvent(i) }) }
    }
    _ = try TestPostgresServer.run(Self.cli, ["operator", "backup", "--out", file], environment: ["CUSTOS_SERVER": "127.0.0.1:\(daemon.grpcPort)"])
    await daemon.stop()
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    let needle = Array("Invoice::\\\"17\\\"".utf8)
    guard let at = (0..<(bytes.count - needle.count)).first(where: { Array(bytes[$0..<($0 + needle.count)]) == needle }) else {
      Issue.record("entry 17 not found in the backup")
      return
    }
    bytes[at + 11] = UInt8(ascii: "8")
    try Data(bytes).write(to: URL(fileURLWithPath: file))
    let data = work.appendingPathComponent("data").path, keys = work.appendingPathComponent("keys").path
    do {
      _ = try TestPostgresServer.run(Self.cli, ["operator", "restore", file, "--data-dir", data, "--keys-dir", keys])
      Issue.record("an altered backup was restored")
    } catch {
      #expect("\(error)".contains("backup part ledger at index"), "\(error)")
    }
    let left = try FileManager.default.contentsOfDirectory(atPath: work.path)
    #expect(left == ["custos.backup"], "nothing is left behind: \(left)")
  }
}

extension BackupEndToEndTests {
  @Test func scheduledBackupsAreTakenRecordedAndPruned() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-scheduled-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let daemon = try await DaemonProcess(environment: [
      "CUSTOS_BACKUP_INTERVAL": "1", "CUSTOS_BACKUP_DIR": directory.path, "CUSTOS_BACKUP_RETENTION": "2",
    ])
    let verifierKey = try await withDaemonClients(port: daemon.grpcPort) { log, _ in try await log.getVerifierKey(.init()).verifierKey }
    let deadline = Date().addingTimeInterval(30)
    var taken: [String] = []
    var recorded = 0
    while Date() < deadline {
      try await Task.sleep(for: .milliseconds(300))
      recorded = try await withDaemonClients(port: daemon.grpcPort) { log, _ in
        try await log.query(.with { $0.kind = "operator.backup"; $0.limit = 100 }) { try await $0.messages.reduce(0) { n, _ in n + 1 } }
      }
      taken = (try? FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".backup") }) ?? []
      if recorded >= 3 { break }
    }
    await daemon.stop()  // no further backup prunes a file while it is checked
    taken = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".backup") }
    #expect(recorded >= 3, "each scheduled backup is recorded")
    #expect(taken.count == 2, "only the newest two are kept: \(taken)")
    for name in taken {
      let output = try TestPostgresServer.run(Self.cli, ["operator", "backup", "verify", directory.appendingPathComponent(name).path, "--verifier-key", verifierKey])
      #expect(output.contains("ok:"))
    }
  }
}

extension BackupEndToEndTests {
  /// A single node's backup restored into an empty PostgreSQL database: a node there serves the log,
  /// decrypts what was encrypted before and decides with the backed-up policy set.
  @Test func aBackupRestoresIntoPostgreSQL() async throws {
    let daemon = try await DaemonProcess()
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("custos-backup-pg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let file = work.appendingPathComponent("custos.backup").path
    let (ciphertext, size) = try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let keys = Custos_V1_Keys.Client(wrapping: client)
      _ = try await keys.createKeyring(.with { $0.name = "ledgerpg" })
      let ciphertext = try await keys.encrypt(.with { $0.keyring = "ledgerpg"; $0.plaintext = Data("to postgres".utf8) }).ciphertext
      for i in 0..<30 { _ = try await log.append(.with { $0.event = auditEvent(i) }) }
      return (ciphertext, try await log.getCheckpoint(.init()).size)
    }
    _ = try TestPostgresServer.run(Self.cli, ["operator", "backup", "--out", file], environment: ["CUSTOS_SERVER": "127.0.0.1:\(daemon.grpcPort)"])
    await daemon.stop()

    let url = try TestPostgresServer.freshDatabaseURL()
    let environment = ["CUSTOS_DATABASE_PASSWORD": TestPostgresServer.password]
    let scratch = [work.appendingPathComponent("scratch-data").path, work.appendingPathComponent("scratch-keys").path]
    _ = try TestPostgresServer.run(
      Self.cli, ["operator", "restore", file, "--data-dir", scratch[0], "--keys-dir", scratch[1], "--to", url], environment: environment)
    #expect(!FileManager.default.fileExists(atPath: scratch[0]), "the staging copy is gone")
    // A second restore into the same (now populated) database is refused.
    #expect(throws: (any Error).self) {
      try TestPostgresServer.run(
        Self.cli, ["operator", "restore", file, "--data-dir", scratch[0], "--keys-dir", scratch[1], "--to", url], environment: environment)
    }
    // The node unseals the restored root key with the single node's passphrase.
    let node = try await DaemonProcess(extraArguments: ClusterEndToEndTests.Cluster.arguments(url), environment: environment)
    try await withDaemonClients(port: node.grpcPort) { log, client in
      let restored = try await log.getCheckpoint(.init()).size
      #expect(restored >= size)
      #expect(try await LedgerKeyEndToEndTests.verified(log))
      let keys = Custos_V1_Keys.Client(wrapping: client)
      #expect(try await keys.decrypt(.with { $0.keyring = "ledgerpg"; $0.ciphertext = ciphertext }).plaintext == Data("to postgres".utf8))
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      #expect(try await authz.check(AuthorizationEndToEndTests.refund(cents: 100, hour: 10)).decision == .allow)
    }
    // And a backup taken from the node on PostgreSQL is the same format, and verifies.
    let again = work.appendingPathComponent("from-postgres.backup").path
    _ = try TestPostgresServer.run(Self.cli, ["operator", "backup", "--out", again], environment: ["CUSTOS_SERVER": "127.0.0.1:\(node.grpcPort)"])
    let key = try await withDaemonClients(port: node.grpcPort) { log, _ in try await log.getVerifierKey(.init()).verifierKey }
    let checked = try TestPostgresServer.run(Self.cli, ["operator", "backup", "verify", again, "--verifier-key", key])
    #expect(checked.contains("ok:"), "\(checked)")
  }
}
