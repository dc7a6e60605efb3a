import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// `custos.v1.Keys` and `custos.v1.Operator` against a real custosd over gRPC.
@Suite struct KeysEndToEndTests {
  typealias Transport = HTTP2ClientTransport.Posix

  static func withKeyClients<T: Sendable>(
    port: Int,
    _ body: (Custos_V1_Keys.Client<Transport>, Custos_V1_Operator.Client<Transport>, Custos_V1_AuditLog.Client<Transport>) async throws -> T
  ) async throws -> T {
    try await withDaemonClients(port: port) { audit, client in
      try await body(Custos_V1_Keys.Client(wrapping: client), Custos_V1_Operator.Client(wrapping: client), audit)
    }
  }

  static func expectStatus(_ code: RPCError.Code, containing text: String = "", _ body: () async throws -> Void) async {
    do {
      try await body()
      Issue.record("expected \(code), the call succeeded")
    } catch let error as RPCError {
      #expect(error.code == code, "\(error)")
      if !text.isEmpty { #expect(error.message.contains(text), "\(error.message) should mention \(text)") }
    } catch {
      Issue.record("unexpected \(String(reflecting: error))")
    }
  }

  static let passphrase = Data("operator passphrase for tests".utf8)

  @Test func sealedLifecycleEncryptionAndAuditOverGRPC() async throws {
    let daemon = try await DaemonProcess(sealed: true)
    let plaintext = Data("4242 4242 4242 4242".utf8)
    let context = ["tenant": "acme"]
    let ciphertext = try await Self.withKeyClients(port: daemon.grpcPort) { keys, operators, audit in
      #expect(try await operators.status(.init()).state == .uninitialized)
      await Self.expectStatus(.failedPrecondition, containing: "operator init") {
        _ = try await keys.encrypt(.with { $0.keyring = "x"; $0.plaintext = plaintext })
      }
      let initialized = try await operators.initialize(.with { $0.passphrase = Self.passphrase })
      #expect(initialized.rootKeyID.count == 16)
      await Self.expectStatus(.failedPrecondition, containing: "already initialized") {
        _ = try await operators.initialize(.with { $0.passphrase = Self.passphrase })
      }
      _ = try await keys.createKeyring(.with { $0.name = "payments" })
      await Self.expectStatus(.alreadyExists) { _ = try await keys.createKeyring(.with { $0.name = "payments" }) }
      await Self.expectStatus(.invalidArgument, containing: "keyring name") { _ = try await keys.createKeyring(.with { $0.name = "Bad Name" }) }
      let encrypted = try await keys.encrypt(.with { $0.keyring = "payments"; $0.plaintext = plaintext; $0.context = context })
      #expect(encrypted.keyVersion == 1)
      let decrypted = try await keys.decrypt(.with { $0.keyring = "payments"; $0.ciphertext = encrypted.ciphertext; $0.context = context })
      #expect(decrypted.plaintext == plaintext)
      await Self.expectStatus(.invalidArgument, containing: "context differs") {
        _ = try await keys.decrypt(.with { $0.keyring = "payments"; $0.ciphertext = encrypted.ciphertext; $0.context = ["tenant": "evil"] })
      }
      await Self.expectStatus(.notFound) { _ = try await keys.encrypt(.with { $0.keyring = "nope"; $0.plaintext = plaintext }) }
      await Self.expectStatus(.invalidArgument, containing: "empty") { _ = try await keys.encrypt(.with { $0.keyring = "payments" }) }

      let batch = try await keys.batchEncrypt(.with {
        $0.keyring = "payments"
        $0.items = [.with { $0.plaintext = Data([1]) }, .with { $0.plaintext = Data() }, .with { $0.plaintext = Data([3]) }]
      })
      #expect(batch.results.count == 3)
      #expect(batch.results[0].ok.keyVersion == 1)
      #expect(batch.results[1].error.code == Int32(RPCError.Code.invalidArgument.rawValue))
      #expect(batch.results[2].ok.receipt.index > batch.results[0].ok.receipt.index)
      let decryptedBatch = try await keys.batchDecrypt(.with {
        $0.keyring = "payments"
        $0.items = [.with { $0.ciphertext = batch.results[0].ok.ciphertext }, .with { $0.ciphertext = Data([1, 2]) }]
      })
      #expect(decryptedBatch.results[0].ok.plaintext == Data([1]))
      #expect(decryptedBatch.results[1].error.message.contains("too short"))

      let dataKey = try await keys.generateDataKey(.with { $0.keyring = "payments" })
      #expect(dataKey.plaintext.count == 32)
      let wrappedOnly = try await keys.generateDataKey(.with { $0.keyring = "payments"; $0.wrappedOnly = true })
      #expect(wrappedOnly.plaintext.isEmpty && !wrappedOnly.ciphertext.isEmpty)

      // The ledger holds the operations, with the context's keys but not its values, and no plaintext.
      let entries = try await ledgerEntries(audit, from: encrypted.receipt.index, to: decrypted.receipt.index + 2)
      #expect(entries.contains { $0.contains("\"kind\":\"key.encrypt\"") && $0.contains("\"context_keys\":[\"tenant\"]") })
      #expect(entries.contains { $0.contains("\"kind\":\"key.decrypt\"") && $0.contains("\"outcome\":\"error\"") })
      #expect(!entries.contains { $0.contains("acme") || $0.contains("4242") })
      return encrypted.ciphertext
    }
    await daemon.stop()

    let restarted = try await DaemonProcess(reusing: daemon, sealed: true)
    try await Self.withKeyClients(port: restarted.grpcPort) { keys, operators, _ in
      #expect(try await operators.status(.init()).state == .sealed)
      await Self.expectStatus(.unavailable, containing: "sealed") {
        _ = try await keys.decrypt(.with { $0.keyring = "payments"; $0.ciphertext = ciphertext; $0.context = context })
      }
      await Self.expectStatus(.permissionDenied, containing: "passphrase does not unseal") {
        _ = try await operators.unseal(.with { $0.passphrase = Data("a wrong passphrase".utf8) })
      }
      #expect(try await operators.unseal(.with { $0.passphrase = Self.passphrase }).state == .unsealed)
      let decrypted = try await keys.decrypt(.with { $0.keyring = "payments"; $0.ciphertext = ciphertext; $0.context = context })
      #expect(decrypted.plaintext == plaintext)
      #expect(try await operators.seal(.init()).state == .sealed)
      await Self.expectStatus(.unavailable, containing: "sealed") { _ = try await keys.listKeyrings(.init()) }
    }
  }

  @Test func shamirSharesUnsealAfterARestart() async throws {
    let daemon = try await DaemonProcess(sealed: true)
    let shares = try await Self.withKeyClients(port: daemon.grpcPort) { keys, operators, _ in
      let response = try await operators.initialize(.with { $0.shamir = .with { $0.shares = 3; $0.threshold = 2 } })
      _ = try await keys.createKeyring(.with { $0.name = "hr" })
      return response.shares
    }
    #expect(shares.count == 3)
    await daemon.stop()
    let restarted = try await DaemonProcess(reusing: daemon, sealed: true)
    try await Self.withKeyClients(port: restarted.grpcPort) { keys, operators, _ in
      let first = try await operators.unseal(.with { $0.share = shares[2] })
      #expect(first.state == .sealed && first.sharesGiven == 1 && first.threshold == 2)
      await Self.expectStatus(.invalidArgument, containing: "checksum") {
        _ = try await operators.unseal(.with { $0.share = String(shares[0].dropLast()) + (shares[0].last == "0" ? "1" : "0") })
      }
      #expect(try await operators.unseal(.with { $0.share = shares[0] }).state == .unsealed)
      #expect(try await keys.listKeyrings(.init()).keyrings.map(\.name) == ["hr"])
    }
  }

  /// The daemon dies (exit, no cleanup) after each step of a root rotation; restarted with the same
  /// passphrase it unseals and decrypts what it encrypted before.
  @Test(arguments: ["rotate-root.staged", "rotate-root.committed", "rotate-root.promoted"])
  func aCrashDuringRotateRootLeavesAWorkingRootKey(step: String) async throws {
    let daemon = try await DaemonProcess(environment: ["CUSTOS_FAILPOINT": step], sealed: true)
    let ciphertext = try await Self.withKeyClients(port: daemon.grpcPort) { keys, operators, _ in
      _ = try await operators.initialize(.with { $0.passphrase = Self.passphrase })
      _ = try await keys.createKeyring(.with { $0.name = "backups" })
      _ = try await keys.rotate(.with { $0.keyring = "backups" })
      let encrypted = try await keys.encrypt(.with { $0.keyring = "backups"; $0.plaintext = Data("snapshot".utf8) })
      do {
        _ = try await operators.rotateRoot(.init())
        Issue.record("the rotation completed although the daemon should have died at \(step)")
      } catch {}
      return encrypted.ciphertext
    }
    #expect(await daemon.stop() == 86)
    let restarted = try await DaemonProcess(reusing: daemon, environment: ["CUSTOS_ROOT_PASSPHRASE": String(decoding: Self.passphrase, as: UTF8.self)])
    try await Self.withKeyClients(port: restarted.grpcPort) { keys, operators, _ in
      #expect(try await operators.status(.init()).state == .unsealed)
      #expect(try await keys.decrypt(.with { $0.keyring = "backups"; $0.ciphertext = ciphertext }).plaintext == Data("snapshot".utf8))
      let again = try await operators.rotateRoot(.init())
      #expect(again.keyringsRewrapped == 2, "backups and the ledger key's internal keyring")
    }
    #expect(!FileManager.default.fileExists(atPath: daemon.keysDirectory.appendingPathComponent("root.sealed.next").path))
    let mode = try FileManager.default.attributesOfItem(atPath: daemon.keysDirectory.appendingPathComponent("root.sealed").path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
  }

  /// Every secret the test handled, in every encoding a leak might take, is absent from the daemon's
  /// log (at trace level) and from every file it wrote.
  @Test func noKeyMaterialPlaintextOrPassphraseInLogsOrDatabase() async throws {
    let passphrase = "leak-check passphrase 7f3a"
    let daemon = try await DaemonProcess(
      extraArguments: ["--auto-init", "--log-level", "trace"], environment: ["CUSTOS_ROOT_PASSPHRASE": passphrase])
    var secrets: [Data] = [Data(passphrase.utf8)]
    let plaintext = Data("plaintext-canary-93b1c2".utf8)
    let contextValue = "context-value-canary-55e0"
    secrets += [plaintext, Data(contextValue.utf8)]
    try await Self.withKeyClients(port: daemon.grpcPort) { keys, operators, _ in
      _ = try await keys.createKeyring(.with { $0.name = "leaks" })
      let encrypted = try await keys.encrypt(.with { $0.keyring = "leaks"; $0.plaintext = plaintext; $0.context = ["c": contextValue] })
      _ = try await keys.decrypt(.with { $0.keyring = "leaks"; $0.ciphertext = encrypted.ciphertext; $0.context = ["c": contextValue] })
      _ = try await keys.rewrap(.with { $0.keyring = "leaks"; $0.ciphertext = encrypted.ciphertext; $0.context = ["c": contextValue] })
      for _ in 0..<3 { secrets.append(try await keys.generateDataKey(.with { $0.keyring = "leaks" }).plaintext) }
      _ = try await keys.rotate(.with { $0.keyring = "leaks" })
      _ = try await operators.rotateRoot(.init())
      _ = try await operators.seal(.init())
      _ = try await operators.unseal(.with { $0.passphrase = Data(passphrase.utf8) })
      await Self.expectStatus(.permissionDenied) { _ = try await operators.unseal(.with { $0.passphrase = Data("wrong-\(passphrase)".utf8) }) }
    }
    #expect(await daemon.stop() == 0)
    let log = Data(daemon.output.utf8)
    var files: [(String, Data)] = [("log", log)]
    for directory in [daemon.dataDirectory, daemon.keysDirectory] {
      for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        files.append((name, try Data(contentsOf: directory.appendingPathComponent(name))))
      }
    }
    #expect(files.contains { $0.0 == "custos.sqlite" })
    for secret in secrets {
      let forms = [secret, Data(secret.map { String(format: "%02x", $0) }.joined().utf8), Data(secret.base64EncodedString().utf8)]
      for (name, contents) in files {
        for form in forms { #expect(contents.range(of: form) == nil, "a secret appears in \(name)") }
      }
    }
  }
}
