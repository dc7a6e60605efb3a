import CustosJSON
import Testing

@testable import CustosPolicy

@Suite struct EvaluatorTests {
  let entities = EntityStore([
    Entity(uid: EntityUID(type: "Service", id: "billing-worker"), attributes: ["team": .string("payments")],
      parents: [EntityUID(type: "Role", id: "payments")], tags: ["tier": .long(1)]),
    Entity(uid: EntityUID(type: "Role", id: "payments"), parents: [EntityUID(type: "Role", id: "staff")]),
    Entity(uid: EntityUID(type: "Role", id: "staff")),
  ])
  let request = Request(
    principal: EntityUID(type: "Service", id: "billing-worker"), action: EntityUID(type: "Action", id: "refund"),
    resource: EntityUID(type: "Invoice", id: "42"), context: ["amount": .long(120), "ip": .string("10.1.2.3")])

  func evaluate(_ text: String) throws -> Value {
    let policy = try PolicyParser.parse("permit(principal, action, resource) when { \(text) };")[0]
    return try Evaluator(request: request, entities: entities).evaluate(policy.conditions[0].body)
  }

  @Test func hierarchyIsTransitive() throws {
    #expect(try evaluate("principal in Role::\"staff\"") == .bool(true))
    #expect(try evaluate("principal in [Role::\"other\", Role::\"payments\"]") == .bool(true))
    #expect(try evaluate("Role::\"staff\" in principal") == .bool(false))
    #expect(try evaluate("principal is Service in Role::\"staff\"") == .bool(true))
  }

  @Test func errorsAreTypedNotThrownAsControlFlow() throws {
    #expect(throws: EvaluationError.overflow("9223372036854775807 + 1")) { try evaluate("9223372036854775807 + 1") }
    #expect(throws: EvaluationError.self) { try evaluate("principal.missing") }
    #expect(throws: EvaluationError.self) { try evaluate("1 && true") }
    #expect(throws: EvaluationError.self) { try evaluate("ip(\"::ffff:1.2.3.4\")") }
    // Short-circuit: the right side is never evaluated.
    #expect(try evaluate("false && (1 + \"a\")") == .bool(false))
    #expect(try evaluate("true || principal.missing") == .bool(true))
  }

  @Test func extensionsBehaveAsCedarDocumentsThem() throws {
    #expect(try evaluate("ip(context.ip).isInRange(ip(\"10.0.0.0/8\"))") == .bool(true))
    #expect(try evaluate("ip(\"127.0.0.1\").isLoopback() && ip(\"224.1.2.3\").isMulticast()") == .bool(true))
    #expect(try evaluate("decimal(\"1.2345\").lessThan(decimal(\"1.3\"))") == .bool(true))
    #expect(throws: EvaluationError.self) { try evaluate("decimal(\"1.23456\")") }
    #expect(try evaluate("datetime(\"2024-10-15T11:35:00+0100\") == datetime(\"2024-10-15T10:35:00Z\")") == .bool(true))
    #expect(try evaluate("datetime(\"2024-10-15\").offset(duration(\"1d2h\")) > datetime(\"2024-10-16T01:59:59.999Z\")") == .bool(true))
    #expect(try evaluate("datetime(\"1969-12-31T23:00:00Z\").toDate() == datetime(\"1969-12-31\")") == .bool(true))
    #expect(try evaluate("duration(\"-1d\").toHours()") == .long(-24))
    #expect(throws: EvaluationError.self) { try evaluate("datetime(\"2023-02-29\")") }
    #expect(throws: EvaluationError.self) { try evaluate("duration(\"1s1d\")") }
    #expect(try evaluate("principal.hasTag(\"tier\") && principal.getTag(\"tier\") == 1") == .bool(true))
  }

  @Test func forbidWinsAndErrorsAreReported() throws {
    let policies = try PolicyParser.parse("""
      permit(principal in Role::"payments", action == Action::"refund", resource);
      forbid(principal, action, resource) when { context.amount > 100 };
      permit(principal, action, resource) when { context.nope };
      """)
    let decision = Authorizer(policies: policies).authorize(request, entities: entities)
    #expect(decision.outcome == .deny && decision.reasons == ["policy1"])
    #expect(decision.errors.map(\.policy) == ["policy2"])
  }
}

@Suite struct EntityOverlayTests {
  let role = EntityUID(type: "Role", id: "payments")
  let staff = EntityUID(type: "Role", id: "staff")
  let worker = EntityUID(type: "Service", id: "w")

  @Test func overlaysAddAndReplaceWithoutTouchingTheBase() {
    let base = EntityStore([Entity(uid: worker, parents: [role]), Entity(uid: role), Entity(uid: staff)])
    #expect(!base.isDescendant(worker, of: staff))
    // Re-parenting the role moves everything below it, in the overlay only.
    let merged = base.merging([Entity(uid: role, parents: [staff])])
    #expect(merged.isDescendant(worker, of: staff) && merged.isDescendant(role, of: staff))
    #expect(!base.isDescendant(worker, of: staff))
    // A new entity in a request.
    let newcomer = EntityUID(type: "Service", id: "new")
    let withNew = base.merging([Entity(uid: newcomer, attributes: ["a": .long(1)], parents: [role])])
    #expect(withNew.isDescendant(newcomer, of: role) && withNew[newcomer]?.attributes["a"] == .long(1))
    #expect(withNew.count == base.count)
  }
}
