import CustosJSON

/// Runs test files in Cedar's integration-test JSON format: for each request, the decision, the
/// reasons (as a set) and the erroring policies (as a set) must match. Nothing is skipped silently:
/// a file that cannot be loaded counts all its requests as failures.
public struct ConformanceRunner: Sendable {
  /// Reads a file named in a test (paths are relative to the test root).
  public typealias Loader = @Sendable (String) throws -> [UInt8]

  public struct Mismatch: Sendable, CustomStringConvertible {
    public var file: String
    public var request: String
    public var detail: String
    public var description: String { "\(file) \(request): \(detail)" }
  }

  public struct Report: Sendable {
    public var passed = 0
    public var failed = 0
    /// Test files whose `shouldValidate` the strict validator agreed with, and those it did not.
    public var validationMatched = 0
    public var validationMismatched = 0
    public var validationMismatches: [Mismatch] = []
    /// Requests marked `validateRequest` that the schema accepted, and those it rejected.
    public var requestsValidated = 0
    public var requestsRejected = 0
    public var mismatches: [Mismatch] = []

    public init() {}

    public mutating func merge(_ other: Report) {
      passed += other.passed
      failed += other.failed
      validationMatched += other.validationMatched
      validationMismatched += other.validationMismatched
      validationMismatches += other.validationMismatches
      requestsValidated += other.requestsValidated
      requestsRejected += other.requestsRejected
      mismatches += other.mismatches
    }
  }

  let load: Loader

  public init(load: @escaping Loader) { self.load = load }

  /// Runs one test file.
  public func run(testFile path: String) -> Report {
    var report = Report()
    let test: [String: JSONValue]
    do {
      guard let object = try JSONParser.parse(load(path)).objectValue else { throw EntityJSON.Invalid(description: "not an object") }
      test = object
    } catch {
      report.failed += 1
      report.mismatches.append(Mismatch(file: path, request: "-", detail: "cannot read the test: \(error)"))
      return report
    }
    guard case let .array(requests)? = test["requests"] else {
      report.failed += 1
      report.mismatches.append(Mismatch(file: path, request: "-", detail: "no requests"))
      return report
    }
    let policies: [Policy]
    let entities: EntityStore
    var schema: Schema?
    do {
      guard let policiesPath = test["policies"]?.stringValue, let entitiesPath = test["entities"]?.stringValue else {
        throw EntityJSON.Invalid(description: "test names no policies or entities file")
      }
      policies = try PolicyParser.parse(String(decoding: load(policiesPath), as: UTF8.self), file: policiesPath)
      if let schemaPath = test["schema"]?.stringValue, schemaPath.hasSuffix(".cedarschema") {
        schema = try SchemaParser.parse(String(decoding: load(schemaPath), as: UTF8.self), file: schemaPath)
      }
      entities = EntityStore(try EntityJSON.entities(load(entitiesPath), schema: schema))
    } catch {
      report.failed += requests.count
      report.mismatches.append(Mismatch(file: path, request: "all", detail: "cannot load: \(error)"))
      return report
    }
    if case let .bool(shouldValidate)? = test["shouldValidate"] {
      let problems = schema.map { PolicyValidator(schema: $0).validate(policies).errors }
      if let problems, problems.isEmpty == shouldValidate {
        report.validationMatched += 1
      } else {
        report.validationMismatched += 1
        let detail =
          problems == nil
          ? "the test has no .cedarschema schema to validate against"
          : shouldValidate ? "Cedar validates the policies; Custos rejects them: \(problems![0])" : "Cedar rejects the policies; Custos validates them"
        report.validationMismatches.append(Mismatch(file: path, request: "shouldValidate", detail: detail))
      }
    }
    let authorizer = Authorizer(policies: policies, preparedFor: entities)
    for (i, requestJSON) in requests.enumerated() {
      let name = requestJSON.objectValue?["description"]?.stringValue ?? "request \(i)"
      do {
        let (request, expected) = try Self.request(requestJSON, schema: schema)
        if let schema, requestJSON.objectValue?["validateRequest"] == .bool(true) {
          let problems = schema.problems(with: request)
          if problems.isEmpty {
            report.requestsValidated += 1
          } else {
            report.requestsRejected += 1
            report.mismatches.append(Mismatch(file: path, request: name, detail: "Cedar validated this request; Custos rejects it: \(problems)"))
          }
        }
        let decision = authorizer.authorize(request, entities: entities)
        let got = (decision.outcome.rawValue, Set(decision.reasons), Set(decision.errors.map(\.policy)))
        if got.0 == expected.decision, got.1 == expected.reasons, got.2 == expected.errors {
          report.passed += 1
        } else {
          report.failed += 1
          report.mismatches.append(Mismatch(
            file: path, request: name,
            detail: "expected \(expected.decision) \(expected.reasons.sorted()) errors \(expected.errors.sorted()), got \(got.0) \(got.1.sorted()) errors \(decision.errors.map { "\($0.policy): \($0.error)" })"))
        }
      } catch {
        report.failed += 1
        report.mismatches.append(Mismatch(file: path, request: name, detail: "\(error)"))
      }
    }
    return report
  }

  struct Expected {
    var decision: String
    var reasons: Set<String>
    var errors: Set<String>
  }

  static func request(_ json: JSONValue, schema: Schema?) throws -> (Request, Expected) {
    guard let object = json.objectValue else { throw EntityJSON.Invalid(description: "request is not an object") }
    func uid(_ key: String) throws -> EntityUID {
      guard let value = object[key] else { throw EntityJSON.Invalid(description: "request has no \(key)") }
      return try EntityJSON.entityUID(value, at: key)
    }
    var context: [String: Value] = [:]
    if let contextJSON = object["context"] {
      let declared = schema?.actions[try uid("action")].map { Schema.AttributeType.record($0.context) }
      guard case let .record(members) = try EntityJSON.value(contextJSON, expected: declared, at: "context") else {
        throw EntityJSON.Invalid(description: "context is not an object")
      }
      context = members
    }
    func ids(_ key: String) -> Set<String> {
      guard case let .array(items)? = object[key] else { return [] }
      return Set(items.compactMap(\.stringValue))
    }
    let request = Request(principal: try uid("principal"), action: try uid("action"), resource: try uid("resource"), context: context)
    return (request, Expected(decision: object["decision"]?.stringValue ?? "", reasons: ids("reason"), errors: ids("errors")))
  }
}
