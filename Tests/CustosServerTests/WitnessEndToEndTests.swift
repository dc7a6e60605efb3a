import CustosCrypto
import CustosLedger
import CustosProtocol
import CustosStoreTestSupport
import Foundation
import Testing

/// A `custos witness` child process on 127.0.0.1 with its own key and state files.
final class WitnessProcess: @unchecked Sendable {
  // @unchecked Sendable: `process`, the paths, the port and the key are set in init and only read
  // afterwards.
  let process = Process()
  let directory: URL
  private(set) var port = 0
  private(set) var vkey = ""

  init(logs: [String], reusing previous: WitnessProcess? = nil) async throws {
    directory = previous?.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("custos-witness-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    process.executableURL = URL(fileURLWithPath: MigrationEndToEndTests.cli)
    process.arguments = [
      "witness", "--listen", "127.0.0.1:0", "--name", "witness.test/w1", "--key-file", directory.appendingPathComponent("witness.key").path,
      "--state-file", directory.appendingPathComponent("state.json").path,
    ] + logs.flatMap { ["--log", $0] }
    let output = ProcessOutput(of: process, both: true)
    try process.run()
    (vkey, port) = try await output.wait(for: process) { text in
      guard let key = text.range(of: "witness key: "), let listening = text.range(of: "witness listening on 127.0.0.1:") else { return nil }
      return (String(text[key.upperBound...].prefix { $0 != "\n" }), Int(text[listening.upperBound...].prefix { $0.isNumber }) ?? 0)
    }
  }

  var url: String { "http://127.0.0.1:\(port)" }

  func kill() {
    Foundation.kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }

  deinit {
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
  }
}

/// custosd with a witness: cosignatures on its checkpoints, decisions while the witness is down, and a
/// restored older copy refused at start.
@Suite struct WitnessEndToEndTests {
  /// The checkpoint once it carries the witness's cosignature.
  static func cosignedCheckpoint(port: Int, witness: CosignerKey) async throws -> Custos_V1_Checkpoint? {
    for _ in 0..<100 {
      let checkpoint = try await withDaemonClients(port: port) { log, _ in try await log.getCheckpoint(.init()) }
      let note = checkpoint.signedNote
      if let blank = note.range(of: "\n\n"),
        Cosignature.verified(lines: note[blank.upperBound...].split(separator: "\n"), body: String(note[..<blank.lowerBound]) + "\n", cosigner: witness) != nil
      {
        return checkpoint
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    return nil
  }

  @Test func checkpointsAreCosignedAndDecisionsNeverWaitForAWitness() async throws {
    // The daemon's verifier key is needed by the witness first: start once without witnesses to make it.
    let first = try await DaemonProcess()
    let verifierKey = try await withDaemonClients(port: first.grpcPort) { log, _ in try await log.getVerifierKey(.init()).verifierKey }
    await first.stop()
    let witness = try await WitnessProcess(logs: [verifierKey])
    let key = try CosignerKey(vkey: witness.vkey)
    let daemon = try await DaemonProcess(reusing: first, environment: ["CUSTOS_WITNESSES": "\(witness.url) \(witness.vkey)"])
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      for i in 0..<5 { _ = try await log.append(.with { $0.event = auditEvent(i) }) }
    }
    let cosigned = try await Self.cosignedCheckpoint(port: daemon.grpcPort, witness: key)
    #expect(cosigned != nil, "the checkpoint carries the witness's cosignature")
    // The log's own signature still verifies on the note with cosignatures.
    if let cosigned { _ = try SignedCheckpoint(note: cosigned.signedNote, verifier: try NoteVerifier(verifierKey: verifierKey)) }

    // A backup ends at the cosigned checkpoint and carries the cosignature: checked offline with the witness's key.
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("custos-witnessed-\(UUID().uuidString).backup").path
    defer { try? FileManager.default.removeItem(atPath: file) }
    _ = try TestPostgresServer.run(MigrationEndToEndTests.cli, ["operator", "backup", "--out", file], environment: ["CUSTOS_SERVER": "127.0.0.1:\(daemon.grpcPort)"])
    let checked = try TestPostgresServer.run(
      MigrationEndToEndTests.cli, ["operator", "backup", "verify", file, "--verifier-key", verifierKey, "--witness", witness.vkey])
    #expect(checked.contains("cosigned by a quorum of 1 of the 1 witnesses"), "\(checked)")
    // So does an evidence bundle.
    let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("custos-witnessed-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: bundle) }
    _ = try TestPostgresServer.run(
      MigrationEndToEndTests.cli, ["report", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--out", bundle],
      environment: ["CUSTOS_SERVER": "127.0.0.1:\(daemon.grpcPort)"])
    let report = try TestPostgresServer.run(
      MigrationEndToEndTests.cli, ["report", "verify", bundle, "--verifier-key", verifierKey, "--witness", witness.vkey])
    #expect(report.contains("PASS"), "\(report)")
    let stranger = CosignerKey(name: "witness.test/w1", publicKey: Ed25519.PrivateKey().publicKey).vkey
    #expect(throws: (any Error).self) {
      try TestPostgresServer.run(MigrationEndToEndTests.cli, ["report", "verify", bundle, "--verifier-key", verifierKey, "--witness", stranger])
    }
    #expect(throws: (any Error).self) {
      try TestPostgresServer.run(MigrationEndToEndTests.cli, ["operator", "backup", "verify", file, "--verifier-key", verifierKey, "--witness", stranger])
    }

    witness.kill()
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      #expect(try await authz.check(AuthorizationEndToEndTests.refund(cents: 100, hour: 10)).decision == .allow)
      _ = try await log.append(.with { $0.event = auditEvent(99) })
    }
    // Restarted while the witness is down, the node still has the cosignatures it stored: a backup ends
    // at the cosigned checkpoint and verifies with the witness's key.
    await daemon.stop()
    let restarted = try await DaemonProcess(reusing: daemon, environment: ["CUSTOS_WITNESSES": "\(witness.url) \(witness.vkey)"])
    let later = FileManager.default.temporaryDirectory.appendingPathComponent("custos-witnessed-\(UUID().uuidString).backup").path
    defer { try? FileManager.default.removeItem(atPath: later) }
    _ = try TestPostgresServer.run(MigrationEndToEndTests.cli, ["operator", "backup", "--out", later], environment: ["CUSTOS_SERVER": "127.0.0.1:\(restarted.grpcPort)"])
    _ = try TestPostgresServer.run(
      MigrationEndToEndTests.cli, ["operator", "backup", "verify", later, "--verifier-key", verifierKey, "--witness", witness.vkey])
    await restarted.stop()

    // Back (with its state), it cosigns the newer checkpoint from where it was.
    let back = try await WitnessProcess(logs: [verifierKey], reusing: witness)
    let again = try await DaemonProcess(reusing: daemon, environment: ["CUSTOS_WITNESSES": "\(back.url) \(back.vkey)"])
    try await withDaemonClients(port: again.grpcPort) { log, _ in _ = try await log.append(.with { $0.event = auditEvent(100) }) }
    #expect(try await Self.cosignedCheckpoint(port: again.grpcPort, witness: key) != nil)
  }

  @Test func aRestoredOlderCopyRefusesToStartUnlessTheRollbackIsAccepted() async throws {
    let first = try await DaemonProcess()
    let verifierKey = try await withDaemonClients(port: first.grpcPort) { log, _ in try await log.getVerifierKey(.init()).verifierKey }
    await first.stop()
    // The older copy: the directories as they are now.
    let copy = FileManager.default.temporaryDirectory.appendingPathComponent("custos-old-copy-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: copy) }
    try FileManager.default.copyItem(at: first.dataDirectory, to: copy.appendingPathComponent("data"))
    try FileManager.default.copyItem(at: first.keysDirectory, to: copy.appendingPathComponent("keys"))

    let witness = try await WitnessProcess(logs: [verifierKey])
    let key = try CosignerKey(vkey: witness.vkey)
    let witnesses = ["CUSTOS_WITNESSES": "\(witness.url) \(witness.vkey)"]
    let daemon = try await DaemonProcess(reusing: first, environment: witnesses)
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      for i in 0..<20 { _ = try await log.append(.with { $0.event = auditEvent(i) }) }
    }
    let newest = try #require(try await Self.cosignedCheckpoint(port: daemon.grpcPort, witness: key))
    await daemon.stop()

    let old = ["--data-dir", copy.appendingPathComponent("data").path, "--keys-dir", copy.appendingPathComponent("keys").path]
    do {
      _ = try await DaemonProcess(extraArguments: old, environment: witnesses)
      Issue.record("a node on an older copy started while the witness holds a newer checkpoint")
    } catch let failure as DaemonFailure {
      #expect(failure.log.contains("holds a cosigned checkpoint of size \(newest.size)"), "\(failure.log)")
    }
    let accepted = try await DaemonProcess(extraArguments: old + ["--accept-rollback"], environment: witnesses)
    let entries = try await withDaemonClients(port: accepted.grpcPort) { log, _ in
      try await log.query(.with { $0.kind = "ledger.rollback_accepted"; $0.limit = 10 }) { try await $0.messages.reduce(into: []) { $0.append($1) } }
    }
    #expect(entries.count == 1)
    #expect(entries.first.map { String(decoding: $0.canonical, as: UTF8.self).contains("\"from_size\":\(newest.size)") } == true)
  }
}
