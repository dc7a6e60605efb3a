import CustosCrypto
import CustosLedger
import CustosLedgerTestSupport
import Foundation
import Testing

@testable import CustosServer

/// The witness (C2SP tlog-witness): cosigns consistent checkpoints, refuses rollbacks and forks with 409
/// and the size it holds, keeps its state across restarts.
@Suite struct WitnessTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())
  let witnessKey = Ed25519.PrivateKey()

  func event(_ i: Int) -> LedgerEvent {
    LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "r\(i)", outcome: "ok")
  }

  func request(_ ledger: Ledger, old: UInt64, _ checkpoint: SignedCheckpoint) async throws -> [UInt8] {
    var body = "old \(old)\n"
    if old > 0 && old < checkpoint.checkpoint.size {
      let proof = try await ledger.consistencyProof(oldSize: old, newSize: checkpoint.checkpoint.size, checkpointSize: checkpoint.checkpoint.size)
      for hash in proof.hashes { body += Base64.encode(hash.bytes) + "\n" }
    }
    return Array((body + "\n" + checkpoint.note).utf8)
  }

  @Test func cosignsConsistentCheckpointsAndRefusesRollbacksAndForks() async throws {
    let statePath = FileManager.default.temporaryDirectory.appendingPathComponent("witness-\(UUID().uuidString).json").path
    defer { try? FileManager.default.removeItem(atPath: statePath) }
    let witness = try Witness(name: "witness.test/w1", key: witnessKey, logs: [signer.verifier], statePath: statePath)
    let cosigner = await witness.cosigner
    let ledger = try Ledger(storage: InMemoryLedgerStorage(), signer: signer)
    _ = try await ledger.append((0..<5).map(event))
    let five = try #require(await ledger.latestCheckpoint)
    let first = await witness.addCheckpoint(try await request(ledger, old: 0, five))
    #expect(first.status == 200)
    #expect(Cosignature.verified(lines: first.body.split(separator: "\n"), body: five.checkpoint.body, cosigner: cosigner) != nil)

    _ = try await ledger.append((5..<9).map(event))
    let nine = try #require(await ledger.latestCheckpoint)
    #expect(await witness.addCheckpoint(try await request(ledger, old: 0, nine)) == .init(status: 409, contentType: "text/x.tlog.size", body: "5\n"))
    #expect(await witness.addCheckpoint(try await request(ledger, old: 5, nine)).status == 200)
    // A rollback: the size-5 checkpoint again.
    #expect(await witness.addCheckpoint(try await request(ledger, old: 5, five)).status == 409)
    // A fork: another log of size 9 signed with the same key.
    let fork = try Ledger(storage: InMemoryLedgerStorage(), signer: signer)
    _ = try await fork.append((100..<109).map(event))
    let forked = try #require(await fork.latestCheckpoint)
    #expect(await witness.addCheckpoint(try await request(fork, old: 9, forked)) == .init(status: 409, contentType: "text/x.tlog.size", body: "9\n"))
    // A proof that does not hold.
    _ = try await ledger.append((9..<12).map(event))
    let twelve = try #require(await ledger.latestCheckpoint)
    var bad = try await request(ledger, old: 9, twelve)
    bad[10] = bad[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    #expect(await witness.addCheckpoint(bad).status == 422)
    // Unknown log, another key, malformed.
    let stranger = NoteSigner(name: "elsewhere/log", privateKey: Ed25519.PrivateKey())
    #expect(await witness.addCheckpoint(Array("old 0\n\n\(stranger.sign("elsewhere/log\n1\nAAAA\n"))".utf8)).status == 404)
    let impostor = try Ledger(storage: InMemoryLedgerStorage(), signer: NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()))
    _ = try await impostor.append(event(0))
    #expect(await witness.addCheckpoint(try await request(impostor, old: 0, try #require(await impostor.latestCheckpoint))).status == 403)
    #expect(await witness.addCheckpoint(Array("hello".utf8)).status == 400)

    // Restarted, it holds what it cosigned.
    let again = try Witness(name: "witness.test/w1", key: witnessKey, logs: [signer.verifier], statePath: statePath)
    #expect(await again.size(of: "custos.test/ledger") == 9)
    #expect(await again.addCheckpoint(try await request(ledger, old: 9, twelve)).status == 200)
  }

  @Test func cosignerKeysRoundTripAsVkeys() throws {
    let key = CosignerKey(name: "witness.test/w1", publicKey: witnessKey.publicKey)
    #expect(try CosignerKey(vkey: key.vkey) == key)
    #expect(throws: LedgerError.self) { try CosignerKey(vkey: key.vkey.replacingOccurrences(of: "witness.test/w1", with: "other/w")) }
  }

  @Test func backupsEndAtTheNewestCheckpointAQuorumOfTheConfiguredWitnessesCosigned() throws {
    let held = try WitnessCosignatures()
    try held.record(size: 10, witness: "w1", line: "— w1 a\n")
    try held.record(size: 10, witness: "w2", line: "— w2 a\n")
    try held.record(size: 20, witness: "w1", line: "— w1 b\n")
    try held.record(size: 30, witness: "retired", line: "— retired c\n")
    try held.record(size: 30, witness: "w2", line: "— w2 c\n")
    let configured: Set = ["w1", "w2"]
    #expect(held.newest(quorum: 2, among: configured)?.size == 10)
    #expect(held.newest(quorum: 2, among: configured)?.cosignatures == ["— w1 a\n", "— w2 a\n"])
    #expect(held.newest(quorum: 1, among: configured)?.size == 30)
    // A witness no longer configured neither counts towards the quorum nor is carried.
    #expect(held.newest(quorum: 1, among: configured)?.cosignatures == ["— w2 c\n"])
    #expect(held.newest(quorum: 2, among: ["w1", "retired"]) == nil)
  }
}
