import CustosCrypto
import CustosEvidence
import CustosJSON
import CustosLedger
import CustosPolicy
import CustosProtocol
import Foundation
import GRPCCore

/// `custos.v1.Reports`: evidence bundles. Authorized (`custos:reports.export`) and recorded
/// (`report.export`, with the range and the manifest's hash) before any byte is sent.
struct ReportsService: Custos_V1_Reports.SimpleServiceProtocol {
  let ledger: Ledger
  let admin: AdminAuthorization
  /// With witnesses, the newest checkpoint they cosigned: bundles end there and carry the cosignatures.
  var witnessed: @Sendable () -> (size: UInt64, cosignatures: [String])? = { nil }
  static let chunkBytes = 1 << 20
  static let knownKindPrefixes = ["audit.", "authz.", "policy.", "key.", "client.", "token.", "report."]

  func export(request: Custos_V1_ExportRequest, response: RPCWriter<Custos_V1_ExportChunk>, context: ServerContext) async throws {
    try await admin.require(.reportsExport, on: CustosResource.ledger.uid)
    for kind in request.kinds where !Self.knownKindPrefixes.contains(where: { kind.hasPrefix($0) }) {
      throw RPCError(code: .invalidArgument, message: "kinds: unknown kind \"\(kind.prefix(64))\" (kinds start with \(Self.knownKindPrefixes.joined(separator: ", ")))")
    }
    guard request.fromUnixNano < request.toUnixNano else {
      throw RPCError(code: .invalidArgument, message: "the time range is empty: from must be before to")
    }
    let caller = Caller.of(context)
    let ledger = self.ledger
    try await RPCErrors.mapping {
      // Manifests are signed with the ledger's checkpoint key (under the evidence context string).
      let signer = try await ledger.activeSigner()
      try await EvidenceExport.stream(
        ledger: ledger, fromTime: request.fromUnixNano, toTime: request.toUnixNano, kinds: request.kinds, actors: request.actors,
        exportedBy: caller, exportedAt: wallClockNanoseconds(), sign: { signer.signature(for: $0) }, witnessed: witnessed(),
        before: { plan in
          // Recorded (durably) before any byte leaves: an export nobody can see in the ledger never happens.
          _ = try await ledger.append(LedgerEvent(
            kind: "report.export", actor: caller, action: "report.export", resource: "custos/ledger", outcome: "ok",
            details: [
              "from_time": .integer(request.fromUnixNano), "to_time": .integer(request.toUnixNano),
              "first_index": .integer(Int64(plan.range.lowerBound)), "last_index": .integer(Int64(plan.range.upperBound - 1)),
              "tree_size": .integer(Int64(plan.checkpoint.checkpoint.size)),
              "kinds": .array(request.kinds.map { .string($0) }), "actors": .array(request.actors.map { .string($0) }),
            ]))
        },
        write: { name, bytes, endOfFile in
          var offset = 0
          repeat {
            let end = min(bytes.count, offset + Self.chunkBytes)
            try await response.writeChunk(.with {
              $0.file = name
              $0.data = Data(bytes[offset..<end])
              $0.endOfFile = endOfFile && end == bytes.count
            })
            offset = end
          } while offset < bytes.count
        })
    }
  }
}
