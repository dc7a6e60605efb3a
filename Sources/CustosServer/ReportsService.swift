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
  /// Signs manifests (the ledger's checkpoint key, under the evidence context string).
  let sign: @Sendable ([UInt8]) -> [UInt8]
  static let chunkBytes = 1 << 20
  static let knownKindPrefixes = ["audit.", "authz.", "policy.", "key.", "client.", "token.", "report."]

  func export(request: Custos_V1_ExportRequest, response: RPCWriter<Custos_V1_ExportChunk>, context: ServerContext) async throws {
    try await admin.require("reports.export", on: EntityUID(type: "Custos", id: "ledger"))
    for kind in request.kinds where !Self.knownKindPrefixes.contains(where: { kind.hasPrefix($0) }) {
      throw RPCError(code: .invalidArgument, message: "kinds: unknown kind \"\(kind.prefix(64))\" (kinds start with \(Self.knownKindPrefixes.joined(separator: ", ")))")
    }
    guard request.fromUnixNano < request.toUnixNano else {
      throw RPCError(code: .invalidArgument, message: "the time range is empty: from must be before to")
    }
    let caller = Caller.of(context)
    let files = try await RPCErrors.mapping {
      let inputs = try await EvidenceExport.inputs(
        ledger: ledger, fromTime: request.fromUnixNano, toTime: request.toUnixNano, kinds: request.kinds, actors: request.actors,
        exportedBy: caller, exportedAt: wallClockNanoseconds())
      return EvidenceBuilder.build(inputs, sign: sign)
    }
    let manifest = files.first { $0.name == EvidenceBundle.manifestFile }!.bytes
    let parsed = try? EvidenceManifest(decoding: manifest)
    _ = try await RPCErrors.mapping {
      try await ledger.append(LedgerEvent(
        kind: "report.export", actor: caller, action: "report.export", resource: "custos/ledger", outcome: "ok",
        details: [
          "from_time": .integer(request.fromUnixNano), "to_time": .integer(request.toUnixNano),
          "first_index": .integer(Int64(parsed?.firstIndex ?? 0)), "last_index": .integer(Int64(parsed?.lastIndex ?? 0)),
          "manifest_sha256": .string(SHA256.hash(manifest).hex),
        ]))
    }
    for (name, bytes) in files {
      var offset = 0
      repeat {
        let end = min(bytes.count, offset + Self.chunkBytes)
        try await response.write(.with {
          $0.file = name
          $0.data = Data(bytes[offset..<end])
          $0.endOfFile = end == bytes.count
        })
        offset = end
      } while offset < bytes.count
    }
  }
}
