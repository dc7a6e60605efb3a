import ArgumentParser
import CustosClient
import CustosJSON
import CustosPolicy
import CustosProtocol
import Foundation
import Yams

/// `custos policy ...`: the policy set.
struct PolicyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy", abstract: "Reload, inspect and test Cedar policies.",
    subcommands: [Reload.self, Push.self, Show.self, Validate.self, Test.self, Conformance.self])

  struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the daemon re-read its policies directory (the old set stays if the new one fails).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let info = try await DaemonConnection.withClient(global, .mutation(idempotent: false)) { try await Custos_V1_PolicyAdmin.Client(wrapping: $0).reloadPolicies(.init()) }
      Show.print(info, global.output)
    }
  }

  struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Activate a policy directory on every node of a cluster (PostgreSQL store); validated first, the old set stays if it fails.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The policy set's directory (*.cedar, the schema, entities.json).") var directory: String

    func run() async throws {
      let files: [Custos_V1_PolicySourceFile] = try PolicyCommand.sourceFiles(directory).map { file in
        .with { $0.name = file.name; $0.content = Data(file.bytes) }
      }
      guard files.contains(where: { $0.name.hasSuffix(".cedar") }) else { throw CLIError("no .cedar files in \(directory)") }
      let info = try await DaemonConnection.withClient(global, .mutation(idempotent: false)) {
        try await Custos_V1_PolicyAdmin.Client(wrapping: $0).pushPolicySet(.with { $0.files = files })
      }
      Show.print(info, global.output)
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the active policy set: hash, files and counts.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let info = try await DaemonConnection.withClient(global, .read) { try await Custos_V1_PolicyAdmin.Client(wrapping: $0).getPolicySet(.init()) }
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
      for mismatch in (report.mismatches + report.validationMismatches).prefix(show) { Swift.print("mismatch: \(mismatch)") }
      Swift.print("shouldValidate: \(report.validationMatched) files match, \(report.validationMismatched) do not")
      Swift.print("\(report.passed) passed, \(report.failed) failed")
      if report.failed > 0 || report.validationMismatched > 0 { throw ExitCode(1) }
    }
  }
}

extension PolicyCommand {
  /// Loads a policies directory the way custosd does, offline.
  static func loadSet(_ directory: String) throws -> PolicySet {
    do { return try PolicySet(files: try sourceFiles(directory)) } catch PolicySetError.noPolicies { throw CLIError("no .cedar files in \(directory)") }
  }

  /// The files of a policies directory that belong to its set, by name.
  static func sourceFiles(_ directory: String) throws -> [(name: String, bytes: [UInt8])] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    return try names.filter(PolicySet.isSourceFile).map { name in
      (name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name))))
    }
  }

  struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check that a policies directory loads as custosd would load it: every policy parses, entities.json is valid.",
      discussion: "With a schema (schema.cedarschema or schema.json) every policy must also pass Cedar's strict validation against it; policies that can never apply are reported as warnings.")
    @Argument(help: "The policies directory.") var directory: String = "policies"
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() throws {
      do {
        let set = try PolicyCommand.loadSet(directory)
        switch output {
        case .json:
          Output.json([
            "ok": true, "hash": set.hash.hex, "policies": set.policies.count, "entities": set.entities.count,
            "schema_checked": set.schema != nil, "warnings": set.validationWarnings.map(\.description),
          ])
        case .text:
          print("OK: \(set.policies.count) policies, \(set.entities.count) entities; policy set \(set.hash.hex)")
          print(set.schema == nil ? "note: no schema, so the policies were not type-checked" : "every policy passes strict validation against the schema")
          for warning in set.validationWarnings { print("warning: \(warning)") }
        }
      } catch {
        switch output {
        case .json: Output.json(["ok": false, "error": "\(error)"])
        case .text: print("INVALID: \(error)")
        }
        throw ExitCode(1)
      }
    }
  }

  struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run policy authors' tests offline: a YAML or JSON list of requests with the decision each should get.",
      discussion: """
        Each test: {"name": "...", "principal": "Service::\\"billing-worker\\"", "action": "Action::\\"refund\\"",
        "resource": "Invoice::\\"1\\"", "context": {...}, "expect": "allow" | "deny", "reasons": ["@id or policyN", ...]}.
        "reasons" is optional; when given, the determining policies must be exactly those. Files ending in
        .yaml or .yml are read as YAML (the same fields), anything else as JSON.
        """)
    @Argument(help: "The tests file (YAML or JSON).") var file: String
    @Option(help: "The policies directory.") var policies: String = "policies"

    func run() throws {
      let set = try PolicyCommand.loadSet(policies)
      let tests = try Self.load(file)
      guard !tests.isEmpty else { throw CLIError("\(file) holds no tests (expected a list of objects)") }
      var passed = 0, failed = 0
      for (i, test) in tests.enumerated() {
        let name = test["name"] as? String ?? "test \(i)"
        do {
          func uid(_ key: String) throws -> EntityUID {
            guard let text = test[key] as? String else { throw CLIError("\(key) is missing") }
            let ref = try CheckCommand.entityRef(text, name: key)
            return EntityUID(type: ref.type, id: ref.id)
          }
          let contextData = try JSONSerialization.data(withJSONObject: test["context"] ?? [String: Any]())
          let contextValue = try EntityJSON.value(JSONParser.parse([UInt8](contextData)), at: "context")
          guard case let .record(context) = contextValue else { throw CLIError("context must be an object") }
          let decision = set.authorizer.authorize(
            Request(principal: try uid("principal"), action: try uid("action"), resource: try uid("resource"), context: context),
            entities: set.entities)
          let expected = (test["expect"] as? String ?? "").lowercased()
          var problems: [String] = []
          if decision.outcome.rawValue != expected { problems.append("expected \(expected), got \(decision.outcome.rawValue)") }
          if let reasons = test["reasons"] as? [String] {
            let got = Set(decision.reasons.map { set.annotatedID(of: $0) ?? $0 })
            let gotIDs = Set(decision.reasons)
            if Set(reasons) != got && Set(reasons) != gotIDs { problems.append("expected reasons \(reasons.sorted()), got \(got.sorted())") }
          }
          for error in decision.errors { problems.append("policy \(error.policy) errored: \(error.error)") }
          if problems.isEmpty {
            passed += 1
          } else {
            failed += 1
            print("FAIL \(name): \(problems.joined(separator: "; "))")
          }
        } catch {
          failed += 1
          print("FAIL \(name): \(error)")
        }
      }
      print("\(passed) passed, \(failed) failed")
      if failed > 0 { throw ExitCode(1) }
    }

    /// The tests as JSON-shaped objects, from YAML (by extension) or JSON.
    static func load(_ file: String) throws -> [[String: Any]] {
      let data = try Data(contentsOf: URL(fileURLWithPath: file))
      guard file.hasSuffix(".yaml") || file.hasSuffix(".yml") else {
        return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
      }
      let loaded: Any?
      do { loaded = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch {
        throw CLIError("\(file): not valid YAML: \(error)")
      }
      guard let tests = loaded as? [Any] else { return [] }
      // Through JSON, so YAML and JSON files mean exactly the same (YAML-only types are refused here).
      guard JSONSerialization.isValidJSONObject(tests) else { throw CLIError("\(file): holds values JSON cannot express") }
      return try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: tests)) as? [[String: Any]] ?? []
    }
  }
}
