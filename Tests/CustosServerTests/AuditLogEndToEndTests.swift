import CustosCrypto
import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore
import Testing

/// A real custosd on 127.0.0.1, called over gRPC.
@Suite(.serialized) struct AuditLogEndToEndTests {
  @Test func appendsAreReadBackProvenAndVerified() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      // Entries 0-2 are written at start (root_init, the first admin's client.create, policy.activate).
      #expect(try await log.getCheckpoint(.init()).size == 3)
      let first = try await log.append(.with { $0.event = auditEvent(0) }).receipt
      #expect(first.index == 3)
      let batch = try await log.appendBatch(.with { $0.events = (1..<19).map { auditEvent($0) } }).receipts
      #expect(batch.map(\.index) == Array(4..<22))

      // Entries come back with their exact canonical bytes: rehash them and follow the chain.
      let leaves: [SHA256Digest] = try await log.getEntries(.with { $0.start = 0 }) { response in
        var prev = SHA256Digest.zero
        var leaves: [SHA256Digest] = []
        for try await entry in response.messages {
          let leaf = MerkleHashing.leafHash([UInt8](entry.canonical))
          #expect(Data(leaf.bytes) == entry.leafHash)
          let parsed = try LedgerEntry(canonicalBytes: [UInt8](entry.canonical))
          #expect(parsed.prev == prev && parsed.index == entry.index)
          prev = leaf
          leaves.append(leaf)
        }
        return leaves
      }
      #expect(leaves.count == 22)
      #expect(Data(leaves[3].bytes) == first.leafHash)

      let key = try await log.getVerifierKey(.init())
      let verifier = try NoteVerifier(verifierKey: key.verifierKey)
      let checkpoint = try await log.getCheckpoint(.init())
      let signed = try SignedCheckpoint(note: checkpoint.signedNote, verifier: verifier)
      var range = CompactRange()
      for leaf in leaves { range.append(leaf: leaf) }
      #expect(signed.checkpoint.size == 22 && signed.checkpoint.rootHash == range.rootHash)

      let inclusion = try await log.getInclusionProof(.with { $0.index = 7 })
      try ProofVerification.verifyInclusion(
        index: 7, size: 22, leafHash: leaves[7], proof: try ProofVerification.digests(inclusion.hashes.map { [UInt8]($0) }),
        root: range.rootHash)
      let consistency = try await log.getConsistencyProof(.with { $0.oldSize = 5; $0.newSize = 22 })
      try ProofVerification.verifyConsistency(
        oldSize: 5, newSize: 22, proof: try ProofVerification.digests(consistency.hashes.map { [UInt8]($0) }),
        oldRoot: [UInt8](consistency.oldRootHash), newRoot: range.rootHash.bytes)

      let found = try await log.query(.with { $0.resource = "Invoice::\"7\""; $0.limit = 10 }) { response in
        try await response.messages.reduce(into: [UInt64]()) { $0.append($1.index) }
      }
      #expect(found == [10])

      let result = try await log.verify(.init()) { response in
        try await response.messages.reduce(into: Custos_V1_VerifyResult?.none) { if $1.hasResult { $0 = $1.result } }
      }
      #expect(result?.ok == true && result?.checked == 22)
    }
  }

  @Test func badInputGetsPreciseStatusesAndWritesNothing() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      _ = try await log.append(.with { $0.event = auditEvent(0) })
      func expectStatus(_ code: RPCError.Code, containing text: String, _ call: () async throws -> Void) async {
        do {
          try await call()
          Issue.record("expected \(code)")
        } catch let error as RPCError {
          #expect(error.code == code, "\(error)")
          #expect(error.message.contains(text), "\(error.message)")
        } catch {
          Issue.record("unexpected \(error)")
        }
      }
      await expectStatus(.invalidArgument, containing: "floating-point") {
        _ = try await log.append(.with { $0.event = auditEvent(1, details: "{\"amount\":1.5}") })
      }
      await expectStatus(.invalidArgument, containing: "must be a JSON object") {
        _ = try await log.append(.with { $0.event = auditEvent(1, details: "[1,2]") })
      }
      await expectStatus(.invalidArgument, containing: "invalid UTF-8") {
        var event = auditEvent(1)
        event.details = Data([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])
        _ = try await log.append(.with { $0.event = event })
      }
      await expectStatus(.invalidArgument, containing: "over the limit") {
        _ = try await log.append(.with { $0.event = auditEvent(1, details: "{\"blob\":\"\(String(repeating: "x", count: 70_000))\"}") })
      }
      await expectStatus(.invalidArgument, containing: "events[1]: actor: required") {
        _ = try await log.appendBatch(.with { $0.events = [auditEvent(1), auditEvent(2, actor: "")] })
      }
      await expectStatus(.invalidArgument, containing: "event: required") { _ = try await log.append(.init()) }
      await expectStatus(.outOfRange, containing: "beyond") {
        try await log.getEntries(.with { $0.start = 0; $0.end = 5 }) { for try await _ in $0.messages {} }
      }
      await expectStatus(.outOfRange, containing: "not below") { _ = try await log.getInclusionProof(.with { $0.index = 4 }) }
      await expectStatus(.invalidArgument, containing: "greater than") {
        _ = try await log.getConsistencyProof(.with { $0.oldSize = 2; $0.newSize = 1 })
      }
      await expectStatus(.outOfRange, containing: "beyond") {
        _ = try await log.getConsistencyProof(.with { $0.oldSize = 1; $0.newSize = 9 })
      }
      await expectStatus(.invalidArgument, containing: "limit") {
        try await log.query(.with { $0.limit = 5000 }) { for try await _ in $0.messages {} }
      }
      // Nothing above was written: the three entries of the start and our one append.
      #expect(try await log.getCheckpoint(.init()).size == 4)
    }
  }

  @Test func healthAndReflectionAnswer() async throws {
    let daemon = try await DaemonProcess()
    defer { daemon.terminate() }
    try await withDaemonClients(port: daemon.grpcPort) { _, client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      #expect(try await health.check(.init()).status == .serving)
      #expect(try await health.check(.with { $0.service = "custos.v1.AuditLog" }).status == .serving)
      do {
        _ = try await health.check(.with { $0.service = "nope" })
        Issue.record("unknown service must be NOT_FOUND")
      } catch let error as RPCError {
        #expect(error.code == .notFound)
      }
      let reflection = Grpc_Reflection_V1_ServerReflection.Client(wrapping: client)
      let services = try await reflection.serverReflectionInfo(
        requestProducer: { writer in
          try await writer.write(.with { $0.listServices = "" })
          try await writer.write(.with { $0.fileContainingSymbol = "custos.v1.AuditLog" })
        },
        onResponse: { response in try await response.messages.reduce(into: [Grpc_Reflection_V1_ServerReflectionResponse]()) { $0.append($1) } })
      #expect(services[0].listServicesResponse.service.map(\.name).contains("custos.v1.AuditLog"))
      #expect(services[0].listServicesResponse.service.map(\.name).contains("grpc.health.v1.Health"))
      #expect(!services[1].fileDescriptorResponse.fileDescriptorProto.isEmpty)
    }
  }

  /// A health watcher sees SERVING, then NOT_SERVING when shutdown begins, and does not hold shutdown up.
  @Test func healthWatchersSeeShutdownAndDoNotBlockIt() async throws {
    let daemon = try await DaemonProcess()
    let port = daemon.grpcPort
    let (firstStatus, announce) = AsyncStream.makeStream(of: Void.self)
    let seen = Task {
      try await withDaemonClients(port: port) { _, client in
        try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.init()) { response in
          try await response.messages.reduce(into: [Grpc_Health_V1_HealthCheckResponse.ServingStatus]()) {
            $0.append($1.status)
            announce.yield()
          }
        }
      }
    }
    // Shut down only once the watch is established (a fixed sleep is too short on a loaded machine).
    for await _ in firstStatus { break }
    let started = ContinuousClock.now
    #expect(await daemon.stop() == 0)
    #expect(ContinuousClock.now - started < .seconds(10))
    let statuses = (try? await seen.value) ?? []
    #expect(statuses.first == .serving)
  }

  /// SIGKILL while a client appends: every acknowledged index survives the restart and verifies.
  @Test func acknowledgedAppendsSurviveSIGKILL() async throws {
    let daemon = try await DaemonProcess()
    let acknowledged = Acknowledged()
    let port = daemon.grpcPort
    let writers = Task {
      try? await withDaemonClients(port: port) { log, _ in
        await withTaskGroup(of: Void.self) { group in
          for worker in 0..<8 {
            group.addTask {
              var i = 0
              while !Task.isCancelled {
                guard let receipt = try? await log.append(.with { $0.event = auditEvent(worker * 1_000_000 + i) }).receipt else { return }
                await acknowledged.add(receipt.index, receipt.leafHash)
                i += 1
              }
            }
          }
        }
      }
    }
    while await acknowledged.count < 300 { try await Task.sleep(for: .milliseconds(10)) }
    daemon.kill()
    writers.cancel()
    _ = await writers.value
    let acked = await acknowledged.receipts
    #expect(acked.count >= 300)

    let restarted = try await DaemonProcess(reusing: daemon)
    defer { restarted.terminate() }
    try await withDaemonClients(port: restarted.grpcPort) { log, _ in
      let size = try await log.getCheckpoint(.init()).size
      #expect(size >= UInt64(acked.count))
      let stored: [UInt64: Data] = try await log.getEntries(.with { $0.start = 0 }) { response in
        try await response.messages.reduce(into: [:]) { $0[$1.index] = $1.leafHash }
      }
      for (index, leaf) in acked { #expect(stored[index] == leaf, "acknowledged index \(index) lost or changed") }
      let result = try await log.verify(.init()) { response in
        try await response.messages.reduce(into: Custos_V1_VerifyResult?.none) { if $1.hasResult { $0 = $1.result } }
      }
      #expect(result?.ok == true, "\(String(describing: result))")
      // And the log keeps growing from where it was.
      let next = try await log.append(.with { $0.event = auditEvent(0) }).receipt
      #expect(next.index == size)
    }
  }
}

actor Acknowledged {
  private(set) var receipts: [(UInt64, Data)] = []
  var count: Int { receipts.count }
  func add(_ index: UInt64, _ leaf: Data) { receipts.append((index, leaf)) }
}
