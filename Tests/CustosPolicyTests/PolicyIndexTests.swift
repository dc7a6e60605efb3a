import Testing

@testable import CustosPolicy

/// The scope index answers exactly what evaluating every policy would: with and without entities
/// prepared ahead, and when request-scoped entities change the hierarchy.
@Suite struct PolicyIndexTests {
  static let policies = try! PolicyParser.parse("""
    permit(principal in Role::"admin", action, resource);
    permit(principal == User::"carol", action in [Action::"read", Action::"write"], resource in Folder::"shared");
    permit(principal is User, action == Action::"read", resource is Doc);
    permit(principal is User in Group::"eng", action in Action::"edit", resource is Doc in Folder::"eng");
    forbid(principal, action == Action::"write", resource == Doc::"secret");
    permit(principal in Group::"ops", action, resource) when { resource has public && resource.public };
    permit(principal == Ghost::"nobody", action, resource);
    """)

  static let entities = EntityStore([
    Entity(uid: .init(type: "Role", id: "admin")),
    Entity(uid: .init(type: "Group", id: "eng"), parents: [.init(type: "Role", id: "staff")]),
    Entity(uid: .init(type: "Group", id: "ops")),
    Entity(uid: .init(type: "User", id: "alice"), parents: [.init(type: "Group", id: "eng")]),
    Entity(uid: .init(type: "User", id: "bob"), parents: [.init(type: "Group", id: "ops")]),
    Entity(uid: .init(type: "User", id: "carol")),
    Entity(uid: .init(type: "Folder", id: "shared")),
    Entity(uid: .init(type: "Folder", id: "eng"), parents: [.init(type: "Folder", id: "shared")]),
    Entity(uid: .init(type: "Doc", id: "design"), attributes: ["public": .bool(true)], parents: [.init(type: "Folder", id: "eng")]),
    Entity(uid: .init(type: "Doc", id: "secret"), parents: [.init(type: "Folder", id: "shared")]),
    Entity(uid: .init(type: "Action", id: "write"), parents: [.init(type: "Action", id: "edit")]),
  ])

  static let principals = ["alice", "bob", "carol", "dave"].map { EntityUID(type: "User", id: $0) }
    + [EntityUID(type: "Ghost", id: "nobody"), EntityUID(type: "Role", id: "admin")]
  static let actions = ["read", "write", "edit", "delete"].map { EntityUID(type: "Action", id: $0) }
  static let resources = ["design", "secret", "missing"].map { EntityUID(type: "Doc", id: $0) } + [EntityUID(type: "Folder", id: "eng")]

  /// Cedar's semantics with no index at all: every policy's scope and conditions, in order.
  static func reference(_ request: Request, _ entities: EntityStore) -> Decision {
    var permits: [String] = [], forbids: [String] = []
    let evaluator = Evaluator(request: request, entities: entities)
    for policy in policies {
      guard case .bool(true)? = try? evaluator.evaluate(PolicyValidator.expression(of: policy)) else { continue }
      if policy.effect == .forbid { forbids.append(policy.id) } else { permits.append(policy.id) }
    }
    if !forbids.isEmpty { return Decision(outcome: .deny, reasons: forbids, errors: []) }
    return Decision(outcome: permits.isEmpty ? .deny : .allow, reasons: permits, errors: [])
  }

  func checkEveryRequest(_ entities: EntityStore, preparedFor base: EntityStore) {
    let plain = Authorizer(policies: Self.policies)
    let prepared = Authorizer(policies: Self.policies, preparedFor: base)
    for principal in Self.principals {
      for action in Self.actions {
        for resource in Self.resources {
          let request = Request(principal: principal, action: action, resource: resource, context: [:])
          let expected = Self.reference(request, entities)
          #expect(plain.authorize(request, entities: entities) == expected, "\(request)")
          #expect(prepared.authorize(request, entities: entities) == expected, "\(request)")
        }
      }
    }
  }

  @Test func preparedAndPlainAuthorizersDecideAsEvaluatingEveryPolicy() {
    checkEveryRequest(Self.entities, preparedFor: Self.entities)
  }

  @Test func requestScopedEntitiesThatChangeTheHierarchyAreHonoured() {
    // Dave appears, carol joins ops, and the eng folder moves out of shared.
    let overlay = Self.entities.merging([
      Entity(uid: .init(type: "User", id: "dave"), parents: [.init(type: "Role", id: "admin")]),
      Entity(uid: .init(type: "User", id: "carol"), parents: [.init(type: "Group", id: "ops")]),
      Entity(uid: .init(type: "Folder", id: "eng")),
    ])
    checkEveryRequest(overlay, preparedFor: Self.entities)
    let prepared = Authorizer(policies: Self.policies, preparedFor: Self.entities)
    let dave = Request(principal: .init(type: "User", id: "dave"), action: .init(type: "Action", id: "delete"), resource: .init(type: "Doc", id: "design"), context: [:])
    #expect(prepared.authorize(dave, entities: overlay).outcome == .allow)
    #expect(prepared.authorize(dave, entities: Self.entities).outcome == .deny)
  }

  @Test func anAuthorizerPreparedForOneStoreStillAnswersForAnother() {
    checkEveryRequest(Self.entities, preparedFor: EntityStore([]))
  }
}
