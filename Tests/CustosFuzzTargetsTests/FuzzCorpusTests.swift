import CustosCrypto
import CustosEvidence
import CustosFuzzTargets
import CustosLedger
import CustosLedgerTestSupport
import Foundation
import Testing

/// Every fuzz target replays its seed corpus and every crash found so far (`Fuzz/regressions/<target>/`)
/// in the ordinary build: what once crashed stays fixed.
@Suite struct FuzzCorpusTests {
  static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz")

  static func inputs(_ kind: String, _ target: String) -> [[UInt8]] {
    let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.sorted().compactMap { try? [UInt8](Data(contentsOf: directory.appendingPathComponent($0))) }
  }

  @Test(arguments: FuzzTargets.all.map(\.name))
  func everyTargetHasASeedCorpusAndRunsItAndItsRegressions(_ name: String) throws {
    let target = try #require(FuzzTargets.named(name))
    let seeds = Self.inputs("corpus", name)
    #expect(!seeds.isEmpty, "Fuzz/corpus/\(name) holds seeds")
    for input in seeds + Self.inputs("regressions", name) { target.run(input) }
  }

  /// libFuzzer cuts a seed longer than `-max_len` silently, so a seed past its target's bound would
  /// start the fuzzer from a broken input (and an evidence bundle cut short verifies nothing).
  @Test(arguments: FuzzTargets.all.map(\.name))
  func everySeedAndRegressionFitsItsTargetsInputBound(_ name: String) throws {
    let target = try #require(FuzzTargets.named(name))
    for input in Self.inputs("corpus", name) + Self.inputs("regressions", name) {
      #expect(input.count <= target.maximumInputBytes, "a \(input.count)-byte input of \(name) is past its bound")
    }
  }

  @Test func theEvidenceSeedIsAValidBundleSoFuzzingStartsDeep() throws {
    let seeds = Self.inputs("corpus", "evidence")
    let verifier = try EvidenceVerifier(verifierKey: FuzzTargets.evidenceSigner.verifier.verifierKey)
    #expect(seeds.contains { (try? verifier.verify(FuzzTargets.evidenceFiles($0))) != nil })
  }

  /// Writes the evidence seed (a small real ledger's bundle, signed with the harness's key) when
  /// CUSTOS_WRITE_FUZZ_SEEDS is set; scripts/fuzz-seeds.sh runs it.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["CUSTOS_WRITE_FUZZ_SEEDS"] != nil))
  func writeTheEvidenceSeed() async throws {
    let signer = FuzzTargets.evidenceSigner
    let ledger = try Ledger(storage: InMemoryLedgerStorage(), signer: signer)
    var times: [Int64] = []
    for batch in 0..<3 {
      let receipts = try await ledger.append((0..<4).map { i in
        LedgerEvent(
          kind: i == 0 ? "authz.decision" : "audit.event", actor: "Service::\"svc-\(i)\"", action: "Action::\"act\"",
          resource: "Invoice::\"\(batch * 4 + i)\"", outcome: i % 2 == 0 ? "allow" : "deny", details: ["n": .integer(Int64(batch * 4 + i))])
      })
      times += receipts.map(\.time)
    }
    let inputs = try await EvidenceExport.inputs(
      ledger: ledger, fromTime: times[2], toTime: times[9], kinds: [], actors: [], exportedBy: "Service::\"admin\"", exportedAt: times[11])
    let files = EvidenceBuilder.build(inputs) { signer.signature(for: $0) }
    let input = FuzzTargets.evidenceInput(Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.bytes) }))
    let directory = Self.fuzzDirectory.appendingPathComponent("corpus/evidence")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Data(input).write(to: directory.appendingPathComponent("bundle-12-entries"))
  }
}
