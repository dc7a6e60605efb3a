import ArgumentParser
import CustosClient
import CustosPolicy
import CustosProtocol
import Foundation

/// `custos check`: ask the daemon for a decision, recorded in its ledger.
struct CheckCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check", abstract: "Ask for an authorization decision and print it with the policies that determined it.",
    discussion: "Exits 0 on ALLOW and 3 on DENY, so scripts can branch on the decision.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The principal, e.g. 'Service::\"billing-worker\"'.") var principal: String
  @Option(help: "The action, e.g. 'Action::\"refund\"'.") var action: String
  @Option(help: "The resource, e.g. 'Invoice::\"inv-1001\"'.") var resource: String
  @Option(help: "The context as a JSON object.") var context: String = "{}"
  @Option(help: "Request-scoped entities as a JSON array in Cedar's entity format.") var entities: String?

  func run() async throws {
    let principalRef = try Self.entityRef(principal, name: "principal")
    let actionRef = try Self.entityRef(action, name: "action")
    let resourceRef = try Self.entityRef(resource, name: "resource")
    let request = Custos_V1_CheckRequest.with {
      $0.principal = principalRef
      $0.action = actionRef
      $0.resource = resourceRef
      $0.context = Data(context.utf8)
      if let entities { $0.entities = Data(entities.utf8) }
    }
    let response = try await DaemonConnection.withCustos(global) { try await $0.check(request) }
    let decision = response.decision == .allow ? "ALLOW" : "DENY"
    switch global.output {
    case .json:
      Output.json([
        "decision": decision.lowercased(),
        "reasons": response.reasons.map { ["policy_id": $0.policyID, "annotated_id": $0.annotatedID] },
        "errors": response.errors.map { ["policy_id": $0.policyID, "annotated_id": $0.annotatedID, "message": $0.message] },
        "policy_set_hash": response.policySetHash, "ledger_index": response.receipt.index,
        "leaf_hash": Output.hex(response.receipt.leafHash),
      ])
    case .text:
      let reasons = response.reasons.map { $0.annotatedID.isEmpty ? $0.policyID : "\($0.annotatedID) (\($0.policyID))" }
      print(reasons.isEmpty ? "\(decision): no policy \(response.decision == .allow ? "forbids" : "permits") it" : "\(decision) by \(reasons.joined(separator: ", "))")
      for error in response.errors { print("  skipped \(error.annotatedID.isEmpty ? error.policyID : error.annotatedID): \(error.message)") }
      print("recorded at ledger index \(response.receipt.index); policy set \(response.policySetHash.prefix(16))...")
    }
    if response.decision != .allow { throw ExitCode(3) }
  }

  /// Parses `Type::"id"` (the id may contain escaped quotes) into an entity reference.
  static func entityRef(_ text: String, name: String = "entity") throws -> Custos_V1_EntityRef {
    guard let uid = try? PolicyParser.parseEntityUID(text) else {
      throw ValidationError("--\(name) must look like Type::\"id\", got \(text)")
    }
    return .with {
      $0.type = uid.type
      $0.id = uid.id
    }
  }
}
