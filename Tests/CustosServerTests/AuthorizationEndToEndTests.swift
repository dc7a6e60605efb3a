import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// `custos.v1.Authorization` and `PolicyAdmin` on a real custosd with the shipped example policies.
@Suite(.serialized) struct AuthorizationEndToEndTests {
  static func ref(_ type: String, _ id: String) -> Custos_V1_EntityRef { .with { $0.type = type; $0.id = id } }

  static func refund(cents: Int, hour: Int, id: String = "") -> Custos_V1_CheckRequest {
    .with {
      $0.principal = ref("Service", "billing-worker")
      $0.action = ref("Action", "refund")
      $0.resource = ref("Invoice", "inv-1001")
      $0.context = Data("{\"amount_cents\": \(cents), \"hour\": \(hour)}".utf8)
      $0.requestID = id
    }
  }

  @Test func decisionsCarryReasonsAndAreRecordedBeforeTheyAreAnswered() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let allow = try await authz.check(Self.refund(cents: 250_000, hour: 10, id: "r-1"))
      #expect(allow.decision == .allow && allow.reasons.map(\.annotatedID) == ["payments-charge-and-refund"])
      #expect(allow.requestID == "r-1" && allow.policySetHash.count == 64)
      let deny = try await authz.check(Self.refund(cents: 250_000, hour: 22))
      #expect(deny.decision == .deny && deny.reasons.map(\.annotatedID) == ["no-large-refunds-outside-business-hours"])

      // Both decisions are in the ledger, at the indexes the receipts name.
      let recorded = try await log.query(.with { $0.kind = "authz.decision" }) { response in
        try await response.messages.reduce(into: [Custos_V1_Entry]()) { $0.append($1) }
      }
      #expect(recorded.map(\.index) == [allow.receipt.index, deny.receipt.index])
      #expect(recorded.map(\.outcome) == ["allow", "deny"])
      let details = try JSONSerialization.jsonObject(with: recorded[1].canonical) as! [String: Any]
      let recordedDetails = details["details"] as! [String: Any]
      #expect(recordedDetails["reasons"] as? [String] == deny.reasons.map(\.policyID))
      #expect(recordedDetails["policy_set_hash"] as? String == deny.policySetHash)

      let batch = try await authz.batchCheck(.with { $0.requests = (0..<3).map { Self.refund(cents: 100, hour: 3, id: "b\($0)") } })
      #expect(batch.responses.map(\.requestID) == ["b0", "b1", "b2"])
      #expect(batch.responses.allSatisfy { $0.decision == .allow })
      #expect(batch.responses.map(\.receipt.index) == (0..<3).map { batch.responses[0].receipt.index + UInt64($0) })
    }
  }

  @Test func requestScopedEntitiesAreMergedOverTheStoredOnes() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { _, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      var request = Self.refund(cents: 10, hour: 12)
      request.principal = Self.ref("Service", "new-billing-job")
      #expect(try await authz.check(request).decision == .deny, "unknown to the stored entities")
      request.entities = Data(#"[{"uid": {"type": "Service", "id": "new-billing-job"}, "attrs": {"team": "finance"}, "parents": [{"type": "Role", "id": "payments"}]}]"#.utf8)
      let answer = try await authz.check(request)
      #expect(answer.decision == .allow && answer.reasons.map(\.annotatedID) == ["payments-charge-and-refund"])
    }
  }

  @Test func checkStreamAnswersInOrder() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { _, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let ids = try await authz.checkStream(
        requestProducer: { writer in
          for i in 0..<500 { try await writer.write(Self.refund(cents: i % 2 == 0 ? 100 : 500_000, hour: 23, id: "s\(i)")) }
        },
        onResponse: { response in
          try await response.messages.reduce(into: [(String, Custos_V1_CheckResponse.Decision)]()) { $0.append(($1.requestID, $1.decision)) }
        })
      #expect(ids.map(\.0) == (0..<500).map { "s\($0)" })
      #expect(ids.enumerated().allSatisfy { i, item in item.1 == (i % 2 == 0 ? .allow : .deny) })
    }
  }

  @Test func badRequestsAreRejectedAndNothingIsRecorded() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let before = try await log.getCheckpoint(.init()).size
      var malformed = Self.refund(cents: 1, hour: 1)
      malformed.principal = Self.ref("Not A Type", "x")
      var notObject = Self.refund(cents: 1, hour: 1)
      notObject.context = Data("[1]".utf8)
      var unknownExtension = Self.refund(cents: 1, hour: 1)
      unknownExtension.context = Data(#"{"when": {"__extn": {"fn": "nope", "arg": "1"}}}"#.utf8)
      var missing = Self.refund(cents: 1, hour: 1)
      missing.clearResource()
      var misspelt = Self.refund(cents: 1, hour: 1)
      misspelt.context = Data(#"{"amount_cent": 1, "hour": 1}"#.utf8)
      var oversized = Self.refund(cents: 1, hour: 1)
      oversized.context = Data(("{\"blob\": \"" + String(repeating: "x", count: 1_100_000) + "\"}").utf8)
      for (request, text) in [
        (malformed, "not a valid Cedar type name"), (notObject, "must be a JSON object"), (unknownExtension, "nope"),
        (missing, "resource: required"), (oversized, "over the limit"),
        (misspelt, "context.amount_cent: not declared"),
      ] {
        do {
          _ = try await authz.check(request)
          Issue.record("accepted a bad request (\(text))")
        } catch let error as RPCError {
          #expect(error.code == .invalidArgument && error.message.contains(text), "\(error)")
        }
      }
      #expect(try await log.getCheckpoint(.init()).size == before)
    }
  }

  /// A broken policy file, or one that does not validate against the schema, is rejected with its
  /// location and the old set keeps answering; a good one is swapped in while checks run, without a
  /// failed request.
  @Test func reloadIsAtomicAndRejectsBrokenSets() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-policies-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: DaemonProcess.packageRoot.appendingPathComponent("policies"), to: directory)
    let daemon = try await DaemonProcess(extraArguments: ["--policies-dir", directory.path])
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { _, client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let admin = Custos_V1_PolicyAdmin.Client(wrapping: client)
      let original = try await admin.getPolicySet(.init())

      try Data("permit(principal, action, resource) when { context.x == };\n".utf8).write(to: directory.appendingPathComponent("zz-broken.cedar"))
      do {
        _ = try await admin.reloadPolicies(.init())
        Issue.record("a broken set was accepted")
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition && error.message.contains("zz-broken.cedar:1:"), "\(error.message)")
      }
      #expect(try await admin.getPolicySet(.init()).hash == original.hash)
      #expect(try await authz.check(Self.refund(cents: 10, hour: 12)).decision == .allow)

      // A policy that parses but does not type-check against the schema is refused the same way.
      try FileManager.default.removeItem(at: directory.appendingPathComponent("zz-broken.cedar"))
      try Data("@id(\"typo\")\npermit(principal, action, resource) when { principal.team == 1 };\n".utf8)
        .write(to: directory.appendingPathComponent("zz-typo.cedar"))
      do {
        _ = try await admin.reloadPolicies(.init())
        Issue.record("a set that does not validate was accepted")
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition, "\(error.code)")
        #expect(error.message.contains(#"zz-typo.cedar:1:1: policy10 (@id "typo"): ==: String and Long have no common type"#), "\(error.message)")
      }
      #expect(try await admin.getPolicySet(.init()).hash == original.hash)
      try FileManager.default.removeItem(at: directory.appendingPathComponent("zz-typo.cedar"))

      // Swap in a set that forbids all refunds while a burst of checks runs.
      let burst = Task {
        try await withThrowingTaskGroup(of: Custos_V1_CheckResponse.Decision.self) { group in
          for _ in 0..<300 { group.addTask { try await authz.check(Self.refund(cents: 10, hour: 12)).decision } }
          return try await group.reduce(into: [Custos_V1_CheckResponse.Decision]()) { $0.append($1) }
        }
      }
      try Data("@id(\"refund-freeze\")\nforbid(principal, action == Action::\"refund\", resource);\n".utf8)
        .write(to: directory.appendingPathComponent("zz-freeze.cedar"))
      let reloaded = try await admin.reloadPolicies(.init())
      let decisions = try await burst.value
      #expect(decisions.count == 300, "no check failed during the swap")
      #expect(reloaded.hash != original.hash && reloaded.files.contains { $0.name == "zz-freeze.cedar" })
      let after = try await authz.check(Self.refund(cents: 10, hour: 12))
      #expect(after.decision == .deny && after.reasons.map(\.annotatedID) == ["refund-freeze"])
      #expect(after.policySetHash == reloaded.hash)
    }
  }
}
