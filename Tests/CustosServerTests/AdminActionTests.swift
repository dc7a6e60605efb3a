import Foundation
import Testing

@testable import CustosPolicy
@testable import CustosServer

/// The admin actions the server asks about and the shipped schema that declares them stay in step: an
/// action missing from the schema would make every admin policy mentioning it fail validation, and a
/// request for it fail closed.
@Suite struct AdminActionTests {
  @Test func theShippedSchemaDeclaresEveryAdminActionForServicesOnItsResourceType() throws {
    let set = try ActivePolicySet.load(DaemonProcess.packageRoot.appendingPathComponent("policies").path)
    let schema = try #require(set.schema)
    for action in AdminAction.allCases {
      let declared = try #require(schema.actions[action.uid], "\(action.uid) is not declared in policies/schema.cedarschema")
      #expect(declared.principals == ["Service"], "\(action.uid)")
      #expect(declared.resources == [action.resourceType], "\(action.uid)")
      #expect(declared.context.isEmpty, "\(action.uid): admin requests carry no context")
    }
    let custos = try #require(schema.entityTypes["Custos"]?.enumeratedIDs)
    #expect(Set(custos) == Set(CustosResource.allCases.map(\.rawValue)))
    let declaredAdminActions = schema.actions.keys.filter { $0.id.hasPrefix("custos:") }
    #expect(Set(declaredAdminActions) == Set(AdminAction.allCases.map(\.uid)), "the schema declares admin actions the server never asks about")
  }

  @Test func everyAdminRequestTheServerMakesIsOneTheSchemaDescribes() throws {
    let set = try ActivePolicySet.load(DaemonProcess.packageRoot.appendingPathComponent("policies").path)
    let schema = try #require(set.schema)
    for action in AdminAction.allCases {
      let resource = action.resourceType == "Custos" ? CustosResource.ledger.uid : EntityUID(type: action.resourceType, id: "x")
      let request = Request(principal: EntityUID(type: "Service", id: "admin"), action: action.uid, resource: resource, context: [:])
      #expect(schema.problems(with: request) == [], "\(action.uid)")
    }
  }
}
