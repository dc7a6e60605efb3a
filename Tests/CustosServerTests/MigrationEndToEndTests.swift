import CustosProtocol
import CustosStoreTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// `custos operator migrate`: a populated single-node deployment moves onto PostgreSQL and a node serves it.
@Suite struct MigrationEndToEndTests {
  static let cli = DaemonProcess.packageRoot.appendingPathComponent(".build/debug/custos").path

  @Test func aSingleNodeMovesToPostgreSQLWhole() async throws {
    let single = try await DaemonProcess(extraArguments: ["--auto-init"], environment: ClusterEndToEndTests.Cluster.environment)
    let (ciphertext, size) = try await ClusterEndToEndTests.connect(single.grpcPort) { client in
      let keys = Custos_V1_Keys.Client(wrapping: client)
      _ = try await keys.createKeyring(.with { $0.name = "payroll" })
      let encrypted = try await keys.encrypt(.with { $0.keyring = "payroll"; $0.plaintext = Data("salary".utf8) })
      let log = Custos_V1_AuditLog.Client(wrapping: client)
      for i in 0..<5 { _ = try await log.appendBatch(.with { $0.events = (0..<100).map { auditEvent(i * 100 + $0) } }) }
      return (encrypted.ciphertext, try await log.getCheckpoint(.init()).size)
    }
    await single.stop()

    let url = try TestPostgresServer.freshDatabaseURL()
    let arguments = ["operator", "migrate", "--from-sqlite", single.dataDirectory.path, "--keys-dir", single.keysDirectory.path, "--to", url]
    let environment = ["CUSTOS_DATABASE_PASSWORD": TestPostgresServer.password]
    let output = try TestPostgresServer.run(Self.cli, arguments, environment: environment)
    #expect(output.contains("verified all \(size) entries"), "\(output)")

    // A node on the database serves the same log, unseals the same root key and decrypts what the single node encrypted.
    let node = try await DaemonProcess(
      extraArguments: ClusterEndToEndTests.Cluster.arguments(url), environment: ClusterEndToEndTests.Cluster.environment)
    defer { node.terminate() }
    try await ClusterEndToEndTests.connect(node.grpcPort) { client in
      let decrypted = try await Custos_V1_Keys.Client(wrapping: client).decrypt(.with { $0.keyring = "payroll"; $0.ciphertext = ciphertext })
      #expect(decrypted.plaintext == Data("salary".utf8))
      let log = Custos_V1_AuditLog.Client(wrapping: client)
      #expect(try await log.getCheckpoint(.init()).size >= size)
      let next = try await log.append(.with { $0.event = auditEvent(9999) }).receipt
      #expect(next.index >= size)
    }
    let result = try await ClusterEndToEndTests.verify(through: node.grpcPort)
    #expect(result.ok, "\(result.reason)")

    // Migrating again into a database that holds a deployment is refused, and changes nothing.
    #expect {
      try TestPostgresServer.run(Self.cli, arguments, environment: environment)
    } throws: { error in
      "\(error)".contains("already holds a deployment")
    }
  }
}
