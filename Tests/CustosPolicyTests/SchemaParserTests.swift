import Foundation
import Testing

@testable import CustosPolicy

@Suite struct SchemaParserTests {
  @Test func parsesEntitiesActionsCommonTypesAndNamespaces() throws {
    let schema = try SchemaParser.parse("""
      namespace Shop {
        type Money = { cents: Long, currency: String };
        entity Role;
        entity Service in [Role] = { team: String, limit?: Money } tags Set<String>;
        entity Invoice { total: Money, owner: Service };
        entity Tier enum ["gold", "silver"];
        action refund, "charge" appliesTo { principal: [Service], resource: Invoice, context: { hour: Long, ip: ipaddr } };
        action admin in ["refund"];
      }
      entity Global;
      """)
    let service = try #require(schema.entityTypes["Shop::Service"])
    #expect(service.memberOf == ["Shop::Role"])
    #expect(service.attributes["team"] == .init(type: .string, required: true))
    #expect(service.attributes["limit"]?.required == false)
    #expect(service.attributes["limit"]?.type == .record(["cents": .init(type: .long, required: true), "currency": .init(type: .string, required: true)]))
    #expect(service.tags == .set(.string))
    #expect(schema.entityTypes["Shop::Invoice"]?.attributes["owner"]?.type == .entity("Shop::Service"))
    #expect(schema.entityTypes["Shop::Tier"]?.enumeratedIDs == ["gold", "silver"])
    let refund = try #require(schema.actions[EntityUID(type: "Shop::Action", id: "refund")])
    #expect(refund.principals == ["Shop::Service"] && refund.resources == ["Shop::Invoice"])
    #expect(refund.context["ip"]?.type == .extension("ipaddr"))
    #expect(schema.actions[EntityUID(type: "Shop::Action", id: "admin")]?.memberOf == [EntityUID(type: "Shop::Action", id: "refund")])
    #expect(schema.entityTypes["Global"] != nil)
  }

  @Test func errorsNameLineAndColumn() {
    #expect {
      _ = try SchemaParser.parse("entity A = { x: Nope };", file: "s.cedarschema")
    } throws: { "\($0)".hasPrefix("s.cedarschema:1:17: unknown type Nope") }
  }

  @Test func parsesEveryConformanceSchema() throws {
    let root = try ConformanceData.root()
    var files: [URL] = []
    for folder in ["sample-data", "corpus-tests"] {
      let enumerator = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
      files += enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "cedarschema" }
    }
    #expect(files.count > 1000)
    var failures: [String] = []
    for file in files {
      do { _ = try SchemaParser.parse(String(contentsOf: file, encoding: .utf8), file: file.lastPathComponent) } catch { failures.append("\(error)") }
    }
    print("conformance schemas: \(files.count - failures.count) parsed, \(failures.count) failed")
    #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
  }
}

@Suite struct SchemaJSONTests {
  /// The JSON format reads into the same schema as the human-readable one.
  @Test func jsonAndHumanFormatsAgree() throws {
    let human = try SchemaParser.parse("""
      namespace Shop {
        type Money = { cents: Long, currency?: String };
        entity Role;
        entity Service in [Role] = { team: String, limit: Money, peers: Set<Service>, ip: ipaddr } tags String;
        entity Tier enum ["gold"];
        action refund appliesTo { principal: [Service], resource: [Service], context: { hour: Long } };
        action admin in ["refund"];
      }
      """)
    let json = try SchemaJSON.parse(Array("""
      {"Shop": {
        "commonTypes": {"Money": {"type": "Record", "attributes": {
          "cents": {"type": "Long"}, "currency": {"type": "String", "required": false}}}},
        "entityTypes": {
          "Role": {},
          "Service": {"memberOfTypes": ["Role"], "tags": {"type": "String"}, "shape": {"type": "Record", "attributes": {
            "team": {"type": "String"}, "limit": {"type": "Money"}, "peers": {"type": "Set", "element": {"type": "Entity", "name": "Service"}},
            "ip": {"type": "Extension", "name": "ipaddr"}}}},
          "Tier": {"enum": ["gold"]}
        },
        "actions": {
          "refund": {"appliesTo": {"principalTypes": ["Service"], "resourceTypes": ["Service"],
            "context": {"type": "Record", "attributes": {"hour": {"type": "Long"}}}}},
          "admin": {"memberOf": [{"id": "refund"}]}
        }
      }}
      """.utf8))
    #expect(json.entityTypes == human.entityTypes)
    #expect(json.actions == human.actions)
  }

  /// Types nest at most 64 deep (as JSON does), so a hostile schema cannot overflow the stack.
  @Test func typesNestedTooDeepAreRefused() throws {
    func schema(_ sets: Int) -> String { "entity A = { x: " + String(repeating: "Set<", count: sets) + "Long" + String(repeating: ">", count: sets) + " };" }
    func records(_ n: Int) -> String { "entity A = { x: " + String(repeating: "{ y: ", count: n) + "Long" + String(repeating: " }", count: n) + " };" }
    _ = try SchemaParser.parse(schema(63))
    _ = try SchemaParser.parse(records(63))
    for tooDeep in [schema(64), records(64), schema(100_000)] {
      #expect { _ = try SchemaParser.parse(tooDeep) } throws: { "\($0)".contains("type nested deeper than 64 levels") }
    }
  }

  @Test func unknownTypesAreNamed() {
    #expect {
      _ = try SchemaJSON.parse(Array(#"{"": {"entityTypes": {"A": {"shape": {"type": "Record", "attributes": {"x": {"type": "Nope"}}}}}}}"#.utf8))
    } throws: { "\($0)".contains("unknown type Nope") }
  }
}

@Suite struct RequestValidationTests {
  let schema = try! SchemaParser.parse("""
    entity Service;
    entity Invoice;
    entity Tier enum ["gold"];
    action refund appliesTo { principal: [Service], resource: [Invoice, Tier], context: { amount: Long, note?: String, tier: Tier } };
    """)

  func problems(principal: EntityUID = EntityUID(type: "Service", id: "s"), action: String = "refund",
                resource: EntityUID = EntityUID(type: "Invoice", id: "1"), context: [String: Value]) -> [String] {
    schema.problems(with: Request(principal: principal, action: EntityUID(type: "Action", id: action), resource: resource, context: context))
  }

  @Test func acceptsWhatTheSchemaDeclares() {
    #expect(problems(context: ["amount": .long(5), "tier": .entity(EntityUID(type: "Tier", id: "gold"))]).isEmpty)
    #expect(problems(context: ["amount": .long(5), "note": .string("x"), "tier": .entity(EntityUID(type: "Tier", id: "gold"))]).isEmpty)
  }

  @Test func rejectsEachKindOfMismatch() {
    let tier = Value.entity(EntityUID(type: "Tier", id: "gold"))
    #expect(problems(action: "delete", context: [:]).first?.contains("not declared") == true)
    #expect(problems(principal: EntityUID(type: "Invoice", id: "x"), context: ["amount": .long(1), "tier": tier]).first?.contains("principal type Invoice") == true)
    #expect(problems(resource: EntityUID(type: "Tier", id: "silver"), context: ["amount": .long(1), "tier": tier]).first?.contains("enumerated") == true)
    #expect(problems(context: ["tier": tier]) == ["context.amount: required, missing"])
    #expect(problems(context: ["amount": .long(1), "tier": tier, "extra": .bool(true)]) == ["context.extra: not declared"])
    #expect(problems(context: ["amount": .string("1"), "tier": tier]) == ["context.amount: expected Long, got a string"])
  }
}
