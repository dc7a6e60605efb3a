import Testing

@testable import CustosPolicy

/// Strict validation: what Cedar's validator accepts, and each kind of rejection with its reason.
@Suite struct PolicyValidatorTests {
  static let schema = try! SchemaParser.parse("""
    entity Role;
    entity Team enum ["red", "blue"];
    entity User in [Role] { age: Long, nickname?: String, manager?: User, address: { city: String, zip?: String } } tags String;
    entity Document { owner: User, labels: Set<String>, created: datetime };
    action view, edit appliesTo { principal: [User], resource: [Document], context: { ip: ipaddr, mfa?: Bool } };
    action audit in [view] appliesTo { principal: [User], resource: [Document] };
    """)

  func problems(_ text: String) throws -> [PolicyDiagnostic] {
    PolicyValidator(schema: Self.schema).validate(try PolicyParser.parse(text), file: "p.cedar").errors
  }

  @Test(arguments: [
    #"permit(principal, action, resource);"#,
    #"permit(principal in Role::"admin", action == Action::"view", resource) when { principal.age >= 18 };"#,
    #"permit(principal, action in [Action::"view", Action::"edit"], resource) when { resource.owner == principal };"#,
    #"permit(principal, action, resource) when { principal has nickname && principal.nickname like "a*" };"#,
    #"permit(principal, action, resource) when { principal has manager.nickname && principal.manager.nickname == "x" };"#,
    #"permit(principal, action, resource) when { principal.address.city == "Oslo" && (if principal.address has zip then principal.address.zip == "0150" else true) };"#,
    #"permit(principal, action, resource) when { resource.labels.contains("public") && !resource.labels.isEmpty() };"#,
    #"permit(principal, action == Action::"view", resource) when { context.ip.isInRange(ip("10.0.0.0/8")) && context has mfa && context.mfa };"#,
    #"permit(principal, action, resource) when { resource.created < datetime("2026-01-01") && resource.created.offset(duration("1d")) > datetime("2025-01-01") };"#,
    #"permit(principal, action, resource) when { principal.hasTag("team") && principal.getTag("team") == "red" };"#,
    // Never evaluated, so never type-checked (Cedar's short-circuit typing).
    #"permit(principal, action, resource) when { false && principal.age == "old" };"#,
    // Entities of different types are simply never equal.
    #"permit(principal, action == Action::"view", resource) when { principal == resource || principal.age > 1 };"#,
    #"permit(principal, action, resource) when { Team::"red" == Team::"blue" || true };"#,
    #"permit(principal is User in Role::"x", action in Action::"view", resource);"#,
  ])
  func validPoliciesValidate(_ text: String) throws {
    #expect(try problems(text) == [])
  }

  @Test(arguments: [
    (#"permit(principal, action, resource) when { principal.height > 1 };"#, "attribute `height` is not known to exist on User"),
    (#"permit(principal, action, resource) when { principal.nickname == "x" };"#, "attribute `nickname` is not known to exist"),
    (#"permit(principal, action, resource) when { principal.age == "old" };"#, "==: Long and String have no common type"),
    (#"permit(principal, action, resource) when { principal.age };"#, "&& cannot take a Long"),
    (#"permit(principal, action, resource) when { principal.age + "1" > 2 };"#, "+: Long and String"),
    // A scope no request type satisfies: `view` applies to users, never to documents as principals.
    (#"permit(principal == Document::"d", action == Action::"view", resource);"#, "no action in the policy's scope applies"),
    (#"permit(principal == Admin::"a", action, resource);"#, "entity type Admin is not declared"),
    (#"permit(principal, action == Action::"delete", resource);"#, #"Action::"delete" is not declared"#),
    (#"permit(principal, action, resource) when { principal in Team::"green" };"#, #"Team::"green" is not declared"#),
    (#"permit(principal, action == Action::"view", resource) when { context.ip == ip("not-an-ip") };"#, "is not a valid ipaddr"),
    (#"permit(principal, action, resource) when { [1, "a"].contains(1) };"#, "set literal: Long and String"),
    (#"permit(principal, action, resource) when { [].isEmpty() };"#, "an empty set literal has no type"),
    (#"permit(principal, action, resource) when { principal.getTag("team") == "red" };"#, "tag is not known to exist on User"),
    (#"permit(principal, action, resource) when { resource.labels.contains(1) };"#, "contains: Set<String> and Long"),
    (#"permit(principal, action == Action::"view", resource) when { context.ip.lessThan(context.ip) };"#, "lessThan cannot take (ipaddr, ipaddr)"),
    (#"permit(principal, action == Action::"audit", resource) when { context.mfa };"#, "attribute `mfa` is not known to exist"),
  ])
  func invalidPoliciesAreRejectedWithTheReason(_ text: String, _ reason: String) throws {
    let found = try problems(text)
    #expect(found.count == 1)
    #expect(found.first.map { "\($0)".contains(reason) } == true, "\(found)")
    #expect(found.first.map { "\($0)".hasPrefix("p.cedar:1:1: policy0") } == true, "\(found)")
  }

  @Test func aPolicyThatCanNeverApplyValidatesWithAWarning() throws {
    let found = PolicyValidator(schema: Self.schema).validate(try PolicyParser.parse(#"permit(principal, action, resource) when { principal == resource };"#))
    #expect(found.errors == [])
    #expect(found.warnings.map(\.reason) == ["the policy can never apply: no principal, action and resource types the schema declares satisfy its scope and conditions"])
  }

  @Test func aPolicySetWithAnInvalidPolicyIsRefusedNamingFileLineAndPolicy() throws {
    let schema = Array("entity User { age: Long }; action view appliesTo { principal: User, resource: User };".utf8)
    let good = Array(#"permit(principal, action, resource) when { principal.age > 1 };"#.utf8)
    let bad = Array("permit(principal, action, resource);\n@id(\"minors\")\nforbid(principal, action, resource) when { principal.age == \"x\" };".utf8)
    #expect(throws: Never.self) { _ = try PolicySet(files: [("a.cedar", good), ("schema.cedarschema", schema)]) }
    #expect {
      _ = try PolicySet(files: [("a.cedar", good), ("b.cedar", bad), ("schema.cedarschema", schema)])
    } throws: { "\($0)".hasPrefix(#"b.cedar:2:1: policy2 (@id "minors"): ==: Long and String have no common type"#) }
  }
}
