import Foundation
import Testing

@testable import CustosPolicy

@Suite struct PolicyParserTests {
  @Test func parsesScopesConditionsAndAnnotations() throws {
    let policies = try PolicyParser.parse("""
      // Refunds need the payments role.
      @id("refunds-need-payments")
      @owner("finance")
      permit (
        principal in Role::"payments",
        action in [Action::"refund", Action::"charge"],
        resource is Invoice in Account::"acme"
      )
      when { context.amount_cents <= 50000 && resource.currency == "EUR" }
      unless { principal has suspended && principal.suspended };

      forbid (principal, action == Action::"delete", resource);
      """)
    #expect(policies.count == 2)
    let first = policies[0]
    #expect(first.id == "policy0" && first.annotatedID == "refunds-need-payments")
    #expect(first.annotations.map(\.0) == ["id", "owner"])
    #expect(first.principal == .in(EntityUID(type: "Role", id: "payments")))
    #expect(first.action == .in([EntityUID(type: "Action", id: "refund"), EntityUID(type: "Action", id: "charge")]))
    #expect(first.resource == .isIn("Invoice", EntityUID(type: "Account", id: "acme")))
    #expect(first.conditions.map(\.kind) == [.when, .unless])
    #expect(policies[1].id == "policy1" && policies[1].effect == .forbid && policies[1].principal == .any)
  }

  /// Hostile nesting is a parse error, not a stack overflow (fuzzing found 2,900 nested parentheses and
  /// brackets crashing the parser; `Fuzz/regressions/cedar-policy/` keeps that input). Chains count
  /// one level per link, since evaluation recurses down their left side.
  @Test func nestingDeeperThanTheLimitIsRefusedByName() throws {
    func policy(_ body: String) -> String { "permit(principal, action, resource) when { \(body) };" }
    func parentheses(_ n: Int) -> String { String(repeating: "(", count: n) + "true" + String(repeating: ")", count: n) }
    func sets(_ n: Int) -> String { String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n) }
    func chain(_ links: Int, _ op: String) -> String { Array(repeating: "1 == 1", count: links + 1).joined(separator: " \(op) ") }
    func attributes(_ links: Int) -> String { "context" + String(repeating: ".a", count: links) + " == 1" }
    let limit = PolicyParser.maximumDepth
    // The body is one level; each parenthesis or set one more.
    // The deepest accepted trees also evaluate (evaluation recurses over them) without trouble.
    let request = Request(
      principal: EntityUID(type: "User", id: "u"), action: EntityUID(type: "Action", id: "a"), resource: EntityUID(type: "R", id: "r"),
      context: [:])
    for deepest in [parentheses(limit - 1), sets(limit - 1), chain(limit - 1, "||"), chain(limit - 1, "&&"), attributes(limit - 1)] {
      let parsed = try PolicyParser.parse(policy(deepest))
      _ = try? Evaluator(request: request, entities: EntityStore([])).evaluate(parsed[0].conditions[0].body)
    }
    for tooDeep in [parentheses(limit), sets(limit), chain(limit, "||"), chain(limit, "&&"), attributes(limit), parentheses(200_000)] {
      #expect {
        _ = try PolicyParser.parse(policy(tooDeep))
      } throws: { "\($0)".contains("expression nested deeper than \(limit) levels") }
    }
  }

  @Test func expressionsFollowCedarPrecedence() throws {
    let policy = try PolicyParser.parse("permit(principal, action, resource) when { 1 + 2 * 3 == 7 || !false && -2 < 3 };")[0]
    let expected: Expr = .or(
      .binary(.equal, .binary(.add, .integer(1), .binary(.multiply, .integer(2), .integer(3))), .integer(7)),
      .and(.not(.bool(false)), .binary(.less, .integer(-2), .integer(3))))
    #expect(policy.conditions[0].body == expected)
  }

  @Test func parsesTheWholeExpressionLanguage() throws {
    let text = """
      permit(principal is User, action, resource)
      when {
        if context.tags.containsAll(["a", "b"]) then resource["owner"] == principal else false
      }
      when { ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) && decimal("1.50").lessThan(decimal("2.0")) }
      when { principal.name like "a*\\*b" && resource has owner.address.city && principal is User in Group::"g" }
      when { {"a": 1, "b": [true, -9223372036854775808]}.a == 1 && principal.hasTag("k") && principal.getTag("k") == 2 }
      when { Namespace::Type::"id" in principal && context["x y"] != "\\u{1F600}\\n" };
      """
    let policy = try PolicyParser.parse(text)[0]
    #expect(policy.conditions.count == 5)
    guard case let .and(.and(.like(_, pattern), _), _) = policy.conditions[2].body else {
      Issue.record("unexpected shape \(policy.conditions[2].body)")
      return
    }
    #expect(pattern.elements == [.literal("a"), .wildcard, .literal("*"), .literal("b")])
    #expect(pattern.matches("axyz*b") && !pattern.matches("axyzb"))
  }

  @Test(arguments: [
    ("permit(principal, action, resource)", "1:36", "expected ';'"),
    ("permit(principal, action, resource) when { principal.x == };", "1:59", "expected an expression"),
    ("permit(\n  principal,\n  action,\n  resource\n) when { 9223372036854775808 };", "5:10", "too large"),
    ("allow(principal, action, resource);", "1:1", "expected 'permit' or 'forbid'"),
    ("permit(principal, action, resource) when { \"unterminated };", "1:44", "unterminated string"),
    ("permit(principal, action, resource) when { {\"a\": 1, \"a\": 2} };", "1:53", "duplicate record attribute"),
    ("permit(principal, action, resource) when { foo };", "1:44", "unknown variable 'foo'"),
    ("permit(principal == ?principal, action, resource);", "1:21", "templates are not supported"),
  ])
  func errorsPointAtLineAndColumn(_ text: String, _ location: String, _ message: String) {
    #expect {
      _ = try PolicyParser.parse(text, file: "p.cedar")
    } throws: { error in
      let error = error as! PolicyParseError
      return "\(error.location)" == location && error.message.contains(message) && "\(error)".hasPrefix("p.cedar:\(location): ")
    }
  }

  @Test func entityReferencesAndTypeNamesParseAlone() throws {
    #expect(try PolicyParser.parseEntityUID(#"Custos::Role::"pay\"ments""#) == EntityUID(type: "Custos::Role", id: "pay\"ments"))
    #expect(throws: PolicyParseError.self) { try PolicyParser.parseEntityUID(#"Role::"a" extra"#) }
    #expect(throws: PolicyParseError.self) { try PolicyParser.parseEntityUID("Role") }
    for valid in ["Service", "Custos::Role", "_a1::B_2"] { #expect(PolicyParser.isValidEntityType(valid), "\(valid)") }
    for invalid in ["", "Not A Type", "A::", "::A", "A ::B", "1A", "A//x", "if"] { #expect(!PolicyParser.isValidEntityType(invalid), "\(invalid)") }
    // The one-scan fast path decides exactly as the lexer does, on every short string over a tricky alphabet.
    let alphabet: [Character] = ["A", "b", "_", "1", ":", " ", "/", "i", "f"]
    var strings = [""]
    for _ in 0..<4 { strings = strings + strings.flatMap { s in alphabet.map { s + String($0) } } }
    for text in Set(strings) + ["if::A", "A::in", "__cedar", "A::B::C", "a:b", "A:::B"] {
      #expect(PolicyParser.asciiEntityTypeVerdict(text) == PolicyParser.lexedEntityTypeVerdict(text), "\(text)")
    }
  }

  /// Every policy file of Cedar's integration tests and generated corpus parses.
  @Test func parsesEveryConformancePolicyFile() throws {
    let root = try ConformanceData.root()
    var files: [URL] = []
    for folder in ["tests", "corpus-tests"] {
      let enumerator = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
      files += enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "cedar" }
    }
    #expect(files.count > 1000)
    var failures: [String] = []
    var policyCount = 0
    for file in files {
      do {
        policyCount += try PolicyParser.parse(String(contentsOf: file, encoding: .utf8), file: file.lastPathComponent).count
      } catch {
        failures.append("\(error)")
      }
    }
    print("conformance policy files: \(files.count - failures.count) parsed, \(failures.count) failed (\(policyCount) policies)")
    #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
  }
}
