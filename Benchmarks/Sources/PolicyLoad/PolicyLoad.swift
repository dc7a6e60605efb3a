import CustosPolicy
import Foundation

/// In-process decisions per second on a workload folder written by `rbac_workload.py generate`.
///
///   swift run -c release PolicyLoad DIR [seconds]
@main
struct PolicyLoad {
  static func main() throws {
    let directory = URL(fileURLWithPath: CommandLine.arguments[1])
    let seconds = CommandLine.arguments.count > 2 ? Double(CommandLine.arguments[2]) ?? 3 : 3
    let set = try PolicySet(files: [
      ("policies.cedar", [UInt8](try Data(contentsOf: directory.appendingPathComponent("policies.cedar")))),
      ("entities.json", [UInt8](try Data(contentsOf: directory.appendingPathComponent("entities.json")))),
    ])
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("requests.json"))) as! [[String: Any]]
    func uid(_ value: Any?) -> EntityUID {
      let object = value as! [String: String]
      return EntityUID(type: object["type"]!, id: object["id"]!)
    }
    let requests = json.map { Request(principal: uid($0["principal"]), action: uid($0["action"]), resource: uid($0["resource"])) }
    var allows = 0
    for request in requests where set.authorizer.authorize(request, entities: set.entities).outcome == .allow { allows += 1 }
    let start = ContinuousClock.now
    var decisions = 0
    while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
      for request in requests { _ = set.authorizer.authorize(request, entities: set.entities) }
      decisions += requests.count
    }
    let elapsed = ContinuousClock.now - start
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let output: [String: Any] = [
      "engine": "custos", "policies": set.policies.count, "entities": set.entities.count,
      "decisions_per_second": Double(decisions) / total, "per_request_us": total / Double(decisions) * 1e6, "allows": allows,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: output, options: .sortedKeys), as: UTF8.self))
  }
}
