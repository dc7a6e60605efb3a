import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Idempotency keys over gRPC: a retry within the window gets the first answer and records nothing; the
/// same key with another request is refused; the keys survive a restart.
@Suite struct IdempotencyEndToEndTests {
  typealias Transport = HTTP2ClientTransport.Posix

  static func size(_ log: Custos_V1_AuditLog.Client<Transport>) async throws -> UInt64 {
    try await log.getCheckpoint(.init()).size
  }

  @Test func retriedAppendsChecksAndEncryptsAreRecordedOnce() async throws {
    let daemon = try await DaemonProcess()
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let keys = Custos_V1_Keys.Client(wrapping: client)
      _ = try await keys.createKeyring(.with { $0.name = "orders" })

      let append = Custos_V1_AppendRequest.with { $0.event = auditEvent(1); $0.idempotencyKey = "6f1c2a7e-append" }
      let first = try await log.append(append).receipt
      let before = try await Self.size(log)
      #expect(try await log.append(append).receipt == first)
      #expect(try await Self.size(log) == before, "a retry records nothing")
      await KeysEndToEndTests.expectStatus(.failedPrecondition, containing: "idempotency_key \"6f1c2a7e-append\"") {
        _ = try await log.append(.with { $0.event = auditEvent(2); $0.idempotencyKey = "6f1c2a7e-append" })
      }
      // The key is on record with the entry.
      let entry = try await ledgerEntries(log, from: first.index, to: first.index + 1)[0]
      #expect(entry.contains("\"idempotency_key\":\"6f1c2a7e-append\""))

      var check = AuthorizationEndToEndTests.refund(cents: 100, hour: 10, id: "r-7")
      check.idempotencyKey = "check-1"
      let decided = try await authz.check(check)
      #expect(try await authz.check(check) == decided)
      let batch = Custos_V1_BatchCheckRequest.with {
        $0.requests = [AuthorizationEndToEndTests.refund(cents: 100, hour: 10), AuthorizationEndToEndTests.refund(cents: 900_000, hour: 23)]
        $0.idempotencyKey = "batch-1"
      }
      let batchAnswer = try await authz.batchCheck(batch)
      #expect(try await authz.batchCheck(batch) == batchAnswer)
      await KeysEndToEndTests.expectStatus(.invalidArgument, containing: "requests[0].idempotency_key") {
        _ = try await authz.batchCheck(.with { $0.requests = [check] })
      }

      let encrypt = Custos_V1_EncryptRequest.with { $0.keyring = "orders"; $0.plaintext = Data("pan 4111".utf8); $0.idempotencyKey = "enc-1" }
      let encrypted = try await keys.encrypt(encrypt)
      #expect(try await keys.encrypt(encrypt) == encrypted, "the same ciphertext, not a second one")
      let dataKey = Custos_V1_GenerateDataKeyRequest.with { $0.keyring = "orders"; $0.context = ["t": "a"]; $0.idempotencyKey = "dk-1" }
      let generated = try await keys.generateDataKey(dataKey)
      let again = try await keys.generateDataKey(dataKey)
      #expect(again == generated && again.plaintext.count == 32, "the same data key, its plaintext opened again")

      let size = try await Self.size(log)
      await KeysEndToEndTests.expectStatus(.invalidArgument, containing: "over the limit of 128") {
        _ = try await log.append(.with { $0.event = auditEvent(3); $0.idempotencyKey = String(repeating: "k", count: 129) })
      }
      await KeysEndToEndTests.expectStatus(.invalidArgument, containing: "printable ASCII") {
        _ = try await log.append(.with { $0.event = auditEvent(3); $0.idempotencyKey = "a key" })
      }
      #expect(try await Self.size(log) == size)
    }
    await daemon.stop()

    // After a restart the keys still answer.
    let restarted = try await DaemonProcess(reusing: daemon)
    try await withDaemonClients(port: restarted.grpcPort) { log, _ in
      let size = try await Self.size(log)
      let receipt = try await log.append(.with { $0.event = auditEvent(1); $0.idempotencyKey = "6f1c2a7e-append" }).receipt
      let after = try await Self.size(log)
      #expect(receipt.index < size && after == size)
    }
  }

  @Test func retriedAdminChangesAreMadeOnce() async throws {
    let daemon = try await DaemonProcess()
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let keys = Custos_V1_Keys.Client(wrapping: client)
      let operators = Custos_V1_Operator.Client(wrapping: client)
      let create = Custos_V1_CreateKeyringRequest.with { $0.name = "invoices"; $0.idempotencyKey = "create-invoices" }
      let created = try await keys.createKeyring(create)
      #expect(try await keys.createKeyring(create) == created, "a retry gets the first answer, not ALREADY_EXISTS")
      let rotate = Custos_V1_RotateRequest.with { $0.keyring = "invoices"; $0.idempotencyKey = "rotate-1" }
      let rotations = try await withThrowingTaskGroup(of: Custos_V1_KeyringResponse.self) { group in
        for _ in 0..<5 { group.addTask { try await keys.rotate(rotate) } }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(Set(rotations.map(\.keyring.latestVersion)) == [2] && Set(rotations.map(\.receipt.index)).count == 1, "rotated once")
      #expect(try await keys.getKeyring(.with { $0.name = "invoices" }).keyring.latestVersion == 2)
      let root = Custos_V1_RotateRootRequest.with { $0.idempotencyKey = "root-1" }
      let rotated = try await operators.rotateRoot(root)
      #expect(try await operators.rotateRoot(root) == rotated)
      let size = try await Self.size(log)
      await KeysEndToEndTests.expectStatus(.failedPrecondition, containing: "rotate-1") {
        _ = try await keys.rotate(.with { $0.keyring = "orders-other"; $0.idempotencyKey = "rotate-1" })
      }
      #expect(try await Self.size(log) == size)
    }
  }

  @Test func concurrentRetriesOfOneKeyRecordOneEntry() async throws {
    let daemon = try await DaemonProcess()
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      let before = try await Self.size(log)
      let receipts = try await withThrowingTaskGroup(of: Custos_V1_Receipt.self) { group in
        for _ in 0..<20 {
          group.addTask { try await log.append(.with { $0.event = auditEvent(5); $0.idempotencyKey = "same-key" }).receipt }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(Set(receipts.map(\.index)).count == 1)
      #expect(try await Self.size(log) == before + 1)
    }
  }
}
