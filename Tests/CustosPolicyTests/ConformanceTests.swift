import Foundation
import Testing

@testable import CustosPolicy

/// Cedar's integration tests and generated corpus, request by request.
@Suite struct ConformanceTests {
  /// The ratchet: the number of corpus requests that matched when this was last raised. Raise it when
  /// the engine improves; never lower it.
  static let recordedPasses = 47_402
  /// The same ratchet for the test files whose `shouldValidate` the strict validator agrees with.
  static let recordedValidationMatches = 5_938

  func runAll() throws -> ConformanceRunner.Report {
    let root = try ConformanceData.root()
    let runner = ConformanceRunner { path in [UInt8](try Data(contentsOf: root.appendingPathComponent(path))) }
    var files: [String] = []
    for folder in ["tests", "corpus-tests"] {
      let enumerator = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
      for case let url as URL in enumerator where url.pathExtension == "json" && !url.lastPathComponent.hasSuffix(".entities.json") {
        files.append(String(url.path.dropFirst(root.path.count + 1)))
      }
    }
    var report = ConformanceRunner.Report()
    for file in files.sorted() { report.merge(runner.run(testFile: file)) }
    return report
  }

  @Test func corpusPassRateNeverFallsBelowTheRecordedOne() throws {
    let report = try runAll()
    print("conformance requests: \(report.passed) passed, \(report.failed) failed")
    print("conformance shouldValidate: \(report.validationMatched) passed, \(report.validationMismatched) failed")
    print("conformance request validation: \(report.requestsValidated) passed, \(report.requestsRejected) failed")
    for mismatch in (report.mismatches + report.validationMismatches).prefix(15) { print("  mismatch: \(mismatch)") }
    #expect(report.passed + report.failed > 10_000)
    #expect(report.passed >= Self.recordedPasses, "conformance fell below the recorded \(Self.recordedPasses) passes")
    #expect(report.validationMatched >= Self.recordedValidationMatches, "shouldValidate fell below the recorded \(Self.recordedValidationMatches) matches")
    #expect(report.requestsRejected == 0, "every request Cedar validated must validate here")
    #expect(report.requestsValidated > 40_000)
  }
}
