import CustosCrypto
import CustosJSON

/// An immutable, loaded policy set: policies, entities and the hashes that identify them. Shared across
/// tasks without locks; a reload builds a new one and swaps it in whole.
public final class PolicySet: Sendable {
  /// One source file of the set, by name, with its SHA-256.
  public struct File: Sendable, Equatable {
    public var name: String
    public var sha256: SHA256Digest
  }

  public let policies: [Policy]
  public let entities: EntityStore
  /// The set's `schema.cedarschema` (or `schema.json`), when it has one: entity and context JSON are
  /// read by its types.
  public let schema: Schema?
  public let authorizer: Authorizer
  /// Policies that validate against the schema but can never apply to a request it allows.
  public let validationWarnings: [PolicyDiagnostic]
  public let files: [File]
  /// SHA-256 of the RFC 8785 canonical JSON `{"files": {name: sha256 hex, ...}}` of every file in the set.
  public let hash: SHA256Digest
  private let annotatedIDs: [String: String]

  /// True for the files of a policy directory that belong to a set: `*.cedar`, `entities.json`,
  /// `schema.cedarschema` and `schema.json`.
  public static func isSourceFile(_ name: String) -> Bool {
    name.hasSuffix(".cedar") || name == "entities.json" || name == "schema.cedarschema" || name == "schema.json"
  }

  /// Builds a set from `*.cedar` files (read in name order; ids `policy0...` run across them), an optional
  /// `entities.json`, and any other files that belong to the set (such as the schema), which are hashed.
  public init(files: [(name: String, bytes: [UInt8])]) throws {
    let sorted = files.filter { Self.isSourceFile($0.name) }.sorted { $0.name < $1.name }
    guard sorted.contains(where: { $0.name.hasSuffix(".cedar") }) else { throw PolicySetError.noPolicies }
    var policies: [Policy] = []
    var entityList: [Entity] = []
    var schema: Schema?
    if let file = sorted.first(where: { $0.name == "schema.cedarschema" }) {
      schema = try SchemaParser.parse(String(decoding: file.bytes, as: UTF8.self), file: file.name)
    } else if let file = sorted.first(where: { $0.name == "schema.json" }) {
      schema = try SchemaJSON.parse(file.bytes)
    }
    let validator = schema.map { PolicyValidator(schema: $0) }
    var validation = PolicyValidation()
    for file in sorted {
      if file.name.hasSuffix(".cedar") {
        let text = String(decoding: file.bytes, as: UTF8.self)
        var parsed = try PolicyParser.parse(text, file: file.name)
        for i in parsed.indices { parsed[i].id = "policy\(policies.count + i)" }
        if let validator {
          let found = validator.validate(parsed, file: file.name)
          validation.errors += found.errors
          validation.warnings += found.warnings
        }
        policies += parsed
      } else if file.name == "entities.json" {
        do { entityList = try EntityJSON.entities(file.bytes, schema: schema) } catch { throw PolicySetError.invalidEntities(file: file.name, reason: "\(error)") }
      }
    }
    // With a schema, a set is activated only if every policy validates (Cedar's strict mode).
    guard validation.errors.isEmpty else { throw PolicySetError.invalidPolicies(validation.errors) }
    validationWarnings = validation.warnings
    self.policies = policies
    self.schema = schema
    self.entities = EntityStore(entityList)
    self.authorizer = Authorizer(policies: policies, preparedFor: entities)
    self.files = sorted.map { File(name: $0.name, sha256: SHA256.hash($0.bytes)) }
    var manifest: [String: JSONValue] = [:]
    for file in self.files { manifest[file.name] = .string(file.sha256.hex) }
    hash = SHA256.hash(CanonicalJSON.encode(.object(["files": .object(manifest)])))
    var annotated: [String: String] = [:]
    for policy in policies { if let id = policy.annotatedID { annotated[policy.id] = id } }
    annotatedIDs = annotated
  }

  /// The `@id` annotation of a policy, if it has one.
  public func annotatedID(of policyID: String) -> String? { annotatedIDs[policyID] }
}

public enum PolicySetError: Error, Sendable, CustomStringConvertible {
  case invalidEntities(file: String, reason: String)
  /// Policies that do not validate against the set's schema.
  case invalidPolicies([PolicyDiagnostic])
  case noPolicies

  public var description: String {
    switch self {
    case let .invalidEntities(file, reason): return "\(file): \(reason)"
    case let .invalidPolicies(errors):
      let shown = errors.prefix(5).map(\.description).joined(separator: "; ")
      return errors.count > 5 ? "\(shown); and \(errors.count - 5) more policies do not validate" : shown
    case .noPolicies: return "no .cedar files"
    }
  }
}
