import CustosProtocol
import Foundation
import GRPCCore
import Testing

/// Requests over the size limit are answered RESOURCE_EXHAUSTED naming the limit and the size.
@Suite struct LimitsEndToEndTests {
  @Test func anOversizedRequestIsRefusedNamingTheLimitAndTheSize() async throws {
    let daemon = try await DaemonProcess()
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let size = try await log.getCheckpoint(.init()).size
      var event = auditEvent(1)
      event.details = Data("{\"blob\":\"\(String(repeating: "x", count: 5 << 20))\"}".utf8)
      await KeysEndToEndTests.expectStatus(.resourceExhausted, containing: "over the limit of 4194304 bytes (max_request_bytes)") {
        _ = try await log.append(.with { $0.event = event })
      }
      let keys = Custos_V1_Keys.Client(wrapping: client)
      await KeysEndToEndTests.expectStatus(.resourceExhausted, containing: "max_request_bytes") {
        _ = try await keys.encrypt(.with { $0.keyring = "none"; $0.plaintext = Data(count: 4 << 20 + 1) })
      }
      // Nothing was recorded, and the daemon keeps serving.
      #expect(try await log.getCheckpoint(.init()).size == size)
      _ = try await log.append(.with { $0.event = auditEvent(2) })
    }
  }

  @Test func theLimitIsASetting() async throws {
    let daemon = try await DaemonProcess(environment: ["CUSTOS_MAX_REQUEST_BYTES": "65536"])
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      var event = auditEvent(1)
      event.details = Data("{\"blob\":\"\(String(repeating: "x", count: 70_000))\"}".utf8)
      await KeysEndToEndTests.expectStatus(.resourceExhausted, containing: "over the limit of 65536 bytes") {
        _ = try await log.append(.with { $0.event = event })
      }
    }
  }
}
