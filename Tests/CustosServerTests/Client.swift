import CustosProtocol
import GRPCCore
import GRPCNIOTransportHTTP2

/// Runs `body` with AuditLog and Health clients connected to `port` on 127.0.0.1.
func withDaemonClients<T: Sendable>(
  port: Int,
  _ body: (Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>, GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
  try await withGRPCClient(
    transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
  ) { client in
    try await body(Custos_V1_AuditLog.Client(wrapping: client), client)
  }
}

func auditEvent(_ i: Int, actor: String = "Service::\"billing-worker\"", details: String? = nil) -> Custos_V1_AuditEvent {
  .with {
    $0.kind = "audit.event"
    $0.actor = actor
    $0.action = "charge"
    $0.resource = "Invoice::\"\(i)\""
    $0.outcome = "success"
    $0.details = Array((details ?? "{\"n\":\(i)}").utf8).withUnsafeBufferPointer { .init(buffer: $0) }
  }
}

import Foundation

/// The canonical text of entries `from..<to`.
func ledgerEntries(_ log: Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>, from: UInt64, to: UInt64) async throws -> [String] {
  try await log.getEntries(.with { $0.start = from; $0.end = to }) { response in
    var texts: [String] = []
    for try await entry in response.messages { texts.append(String(decoding: entry.canonical, as: UTF8.self)) }
    return texts
  }
}
