import CustosJSON
import CustosPolicy
import Foundation

extension FuzzTargets {
  /// Cedar policy text: parsed, then what parses is validated against the shipped schema and evaluated
  /// against a request on the shipped entities (the evaluator meets every expression the parser builds).
  /// Inputs up to 8 KiB: six times the largest seed, and past the parser's nesting limit (256 levels take
  /// about 260 bytes); a longer text adds policies and links, which cost time linearly.
  static let cedarPolicy = FuzzTarget(
    name: "cedar-policy", summary: "Cedar policy parser, validator and evaluator", maximumInputBytes: 8 * 1024,
    prepare: ShippedPolicies.load
  ) { bytes in
    guard let policies = try? PolicyParser.parse(String(fuzzInput: bytes)) else { return }
    _ = ShippedPolicies.validator.validate(policies)
    _ = Authorizer(policies: policies).authorize(ShippedPolicies.request, entities: ShippedPolicies.entities)
  }

  /// Cedar schemas in the human-readable syntax, up to 8 KiB (four times the largest seed; past the
  /// 64-level type nesting limit).
  static let cedarSchema = FuzzTarget(
    name: "cedar-schema", summary: "Cedar schema parser (human-readable syntax)", maximumInputBytes: 8 * 1024,
    prepare: ShippedPolicies.load
  ) { bytes in
    guard let schema = try? SchemaParser.parse(String(fuzzInput: bytes)) else { return }
    _ = PolicyValidator(schema: schema).validate(ShippedPolicies.policies)
  }

  /// Cedar schemas in the JSON syntax.
  static let schemaJSON = FuzzTarget(name: "schema-json", summary: "Cedar schema parser (JSON syntax)") { bytes in
    _ = try? SchemaJSON.parse(bytes)
  }

  /// Entity JSON as `Check` calls and the entities file carry it, typed by the shipped schema.
  static let entitiesJSON = FuzzTarget(name: "entities-json", summary: "Cedar entity JSON, with and without the schema", prepare: ShippedPolicies.load) { bytes in
    _ = try? EntityJSON.entities(bytes)
    _ = try? EntityJSON.entities(bytes, schema: ShippedPolicies.schema)
  }

  /// A `Check` call's context: JSON, then Cedar values as the schema declares them for the action.
  static let contextJSON = FuzzTarget(name: "context-json", summary: "a Check call's context JSON as Cedar values", prepare: ShippedPolicies.load) { bytes in
    guard let json = try? JSONParser.parse(bytes) else { return }
    _ = try? EntityJSON.value(json, at: "context")
    guard case let .record(members)? = try? EntityJSON.value(json, expected: nil, at: "context") else { return }
    let request = Request(
      principal: ShippedPolicies.request.principal, action: ShippedPolicies.request.action, resource: ShippedPolicies.request.resource,
      context: members)
    _ = Authorizer(policies: ShippedPolicies.policies).authorize(request, entities: ShippedPolicies.entities)
  }
}

/// The repository's `policies/` (schema, entities, policies), read once: realistic company for fuzzed inputs.
enum ShippedPolicies {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("policies")

  static func file(_ name: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))) ?? []
  }

  static let schema = (try? SchemaParser.parse(String(decoding: file("schema.cedarschema"), as: UTF8.self))) ?? Schema()
  static let entities = EntityStore((try? EntityJSON.entities(file("entities.json"))) ?? [])
  static let policies: [Policy] = ["admin.cedar", "billing.cedar", "crm.cedar", "deploy.cedar"].flatMap { name in
    (try? PolicyParser.parse(String(decoding: file(name), as: UTF8.self), file: name)) ?? []
  }
  static let validator = PolicyValidator(schema: schema)
  @Sendable static func load() {
    _ = (schema, entities, policies, request, validator)
  }

  static let request = Request(
    principal: EntityUID(type: "Service", id: "billing-worker"), action: EntityUID(type: "Action", id: "refund"),
    resource: EntityUID(type: "Invoice", id: "inv-1"), context: ["amount_cents": .long(1299), "hour": .long(10)])
}
