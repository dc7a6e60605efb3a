import ArgumentParser
import CustosPolicy
import CustosProtocol
import Foundation

/// `custos policy ...`: the policy set.
struct PolicyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy", abstract: "Reload, inspect and test Cedar policies.",
    subcommands: [Reload.self, Show.self, Conformance.self])

  struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the daemon re-read its policies directory (the old set stays if the new one fails).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let info = try await DaemonConnection.withClient(global) { try await Custos_V1_PolicyAdmin.Client(wrapping: $0).reloadPolicies(.init()) }
      Show.print(info, global.output)
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the active policy set: hash, files and counts.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let info = try await DaemonConnection.withClient(global) { try await Custos_V1_PolicyAdmin.Client(wrapping: $0).getPolicySet(.init()) }
      Self.print(info, global.output)
    }

    static func print(_ info: Custos_V1_PolicySetInfo, _ format: OutputFormat) {
      switch format {
      case .json:
        Output.json([
          "hash": info.hash, "policy_count": info.policyCount, "entity_count": info.entityCount,
          "files": info.files.map { ["name": $0.name, "sha256": $0.sha256] }, "activation_ledger_index": info.activationReceipt.index,
        ])
      case .text:
        Swift.print("policy set \(info.hash): \(info.policyCount) policies, \(info.entityCount) entities, activated at ledger index \(info.activationReceipt.index)")
        for file in info.files { Swift.print("  \(file.sha256.prefix(16))  \(file.name)") }
      }
    }
  }

  struct Conformance: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run test files in Cedar's integration-test JSON format (offline) and print N passed, N failed.")
    @Argument(help: "Test files (.json).") var files: [String]
    @Option(help: "The folder that paths inside the test files are relative to.") var root: String = "."
    @Option(help: "How many mismatches to print.") var show: Int = 10

    func run() throws {
      let root = URL(fileURLWithPath: self.root)
      let runner = ConformanceRunner { path in [UInt8](try Data(contentsOf: root.appendingPathComponent(path))) }
      var report = ConformanceRunner.Report()
      for file in files {
        let relative = file.hasPrefix(root.path + "/") ? String(file.dropFirst(root.path.count + 1)) : file
        report.merge(runner.run(testFile: relative))
      }
      for mismatch in report.mismatches.prefix(show) { Swift.print("mismatch: \(mismatch)") }
      if report.validationUnchecked > 0 { Swift.print("shouldValidate: \(report.validationUnchecked) files unchecked (the validator is not built yet)") }
      Swift.print("\(report.passed) passed, \(report.failed) failed")
      if report.failed > 0 { throw ExitCode(1) }
    }
  }
}
