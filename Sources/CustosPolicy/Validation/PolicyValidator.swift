/// What the validator says of one policy (an error that refuses the set, or a warning), with where the
/// policy is.
public struct PolicyDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
  public var policyID: String
  /// The policy's `@id` annotation, if any.
  public var annotatedID: String?
  /// The file the policy came from, when known.
  public var file: String?
  public var location: SourceLocation
  public var reason: String

  public var description: String {
    let name = annotatedID.map { "\(policyID) (@id \"\($0)\")" } ?? policyID
    return "\(file.map { $0 + ":" } ?? "")\(location): \(name): \(reason)"
  }
}

/// What validating policies found.
public struct PolicyValidation: Sendable, Equatable {
  /// Policies that do not validate: a set with any is not activated.
  public var errors: [PolicyDiagnostic] = []
  /// Policies that validate but can never apply to a request the schema allows (as Cedar, a warning:
  /// almost always a mistake, but not unsafe).
  public var warnings: [PolicyDiagnostic] = []

  public init() {}
}

/// Cedar's validator in strict mode: every entity type, enumerated entity and action a policy names
/// must be declared, and its scope and conditions must type-check, as Bool, under every request type
/// the schema allows (principal type × action × resource type).
public struct PolicyValidator: Sendable {
  let index: SchemaIndex
  let requestTypes: [RequestType]

  public init(schema: Schema) {
    index = SchemaIndex(schema)
    var types: [RequestType] = []
    // Sorted by the uid's text, each spelled out once (not twice per comparison).
    for (_, action) in schema.actions.values.map({ ("\($0.uid)", $0) }).sorted(by: { $0.0 < $1.0 }) {
      let context = CedarType.attributes(action.context)
      for principal in action.principals.sorted() {
        for resource in action.resources.sorted() {
          types.append(RequestType(principal: principal, action: action.uid, resource: resource, context: context))
        }
      }
    }
    requestTypes = types
  }

  /// Validates `policies`; `file` is reported with each diagnostic.
  public func validate(_ policies: [Policy], file: String? = nil) -> PolicyValidation {
    var result = PolicyValidation()
    for policy in policies {
      func diagnostic(_ reason: String) -> PolicyDiagnostic {
        PolicyDiagnostic(policyID: policy.id, annotatedID: policy.annotatedID, file: file, location: policy.location, reason: reason)
      }
      switch validate(policy) {
      case nil: break
      case let .error(reason)?: result.errors.append(diagnostic(reason))
      case let .warning(reason)?: result.warnings.append(diagnostic(reason))
      }
    }
    return result
  }

  enum Finding: Equatable {
    case error(String)
    case warning(String)
  }

  /// What is wrong with `policy`, if anything.
  func validate(_ policy: Policy) -> Finding? {
    let expression = Self.expression(of: policy)
    if let undeclared = undeclaredName(in: expression) { return .error(undeclared) }
    guard requestTypes.contains(where: { scope(of: policy, admits: $0) }) else {
      return .error("no action in the policy's scope applies to the principal and resource types its scope allows")
    }
    var applies = false
    for requestType in requestTypes {
      do {
        let type = try Typechecker(index: index, request: requestType).typeOf(expression).type
        guard case let .bool(value) = type else { throw TypeError.notBoolean("\(type)") }
        if value != .false { applies = true }
      } catch {
        return .error("\(error) (for principal \(requestType.principal), action \(requestType.action), resource \(requestType.resource))")
      }
    }
    return applies ? nil : .warning("the policy can never apply: no principal, action and resource types the schema declares satisfy its scope and conditions")
  }

  /// True when the request type satisfies the policy's principal, action and resource scope (as far
  /// as types tell): a scope no request type satisfies is an error, as in Cedar.
  func scope(of policy: Policy, admits request: RequestType) -> Bool {
    func admits(_ constraint: Policy.EntityConstraint, _ type: String) -> Bool {
      switch constraint {
      case .any: return true
      case let .equal(uid): return uid.type == type
      case let .in(uid): return index.isDescendant(type, of: uid.type)
      case let .is(required): return required == type
      case let .isIn(required, uid): return required == type && index.isDescendant(type, of: uid.type)
      }
    }
    let action: Bool
    switch policy.action {
    case .any: action = true
    case let .equal(uid): action = uid == request.action
    case let .in(uids): action = uids.contains { index.isDescendant(request.action, of: $0) }
    }
    return action && admits(policy.principal, request.principal) && admits(policy.resource, request.resource)
  }

  /// The policy as one expression: scope, then conditions, joined by `&&` (as Cedar evaluates it).
  static func expression(of policy: Policy) -> Expr {
    func scope(_ constraint: Policy.EntityConstraint, _ variable: Expr.Variable) -> Expr {
      switch constraint {
      case .any: return .bool(true)
      case let .equal(uid): return .binary(.equal, .variable(variable), .entity(uid))
      case let .in(uid): return .binary(.in, .variable(variable), .entity(uid))
      case let .is(type): return .is(.variable(variable), type, in: nil)
      case let .isIn(type, uid): return .is(.variable(variable), type, in: .entity(uid))
      }
    }
    let action: Expr
    switch policy.action {
    case .any: action = .bool(true)
    case let .equal(uid): action = .binary(.equal, .variable(.action), .entity(uid))
    case let .in(uids): action = .binary(.in, .variable(.action), uids.count == 1 ? .entity(uids[0]) : .set(uids.map { .entity($0) }))
    }
    var conditions: Expr = .bool(true)
    for condition in policy.conditions.reversed() {
      conditions = .and(condition.kind == .when ? condition.body : .not(condition.body), conditions)
    }
    return .and(scope(policy.principal, .principal), .and(action, .and(scope(policy.resource, .resource), conditions)))
  }

  /// The first entity type, enumerated entity or action named anywhere in `expr` (even where evaluation
  /// never reaches) that the schema does not declare.
  func undeclaredName(in expr: Expr) -> String? {
    switch expr {
    case .bool, .integer, .string, .variable: return nil
    case let .entity(uid):
      if index.isDeclared(uid) { return nil }
      let typeKnown = index.schema.entityTypes[uid.type] != nil || index.actionTypes.contains(uid.type)
      return typeKnown ? "\(TypeError.unknownEntity(uid))" : "\(TypeError.unknownEntityType(uid.type))"
    case let .is(operand, type, inExpr):
      guard index.schema.entityTypes[type] != nil else { return "\(TypeError.unknownEntityType(type))" }
      return undeclaredName(in: operand) ?? inExpr.flatMap(undeclaredName)
    case let .set(elements): return elements.lazy.compactMap(undeclaredName).first
    case let .record(members): return members.lazy.compactMap { undeclaredName(in: $0.value) }.first
    case let .not(operand), let .negate(operand), let .like(operand, _), let .has(operand, _), let .attribute(operand, _):
      return undeclaredName(in: operand)
    case let .and(left, right), let .or(left, right), let .binary(_, left, right):
      return undeclaredName(in: left) ?? undeclaredName(in: right)
    case let .ifThenElse(condition, then, otherwise):
      return undeclaredName(in: condition) ?? undeclaredName(in: then) ?? undeclaredName(in: otherwise)
    case let .method(base, _, arguments): return undeclaredName(in: base) ?? arguments.lazy.compactMap(undeclaredName).first
    case let .call(_, arguments): return arguments.lazy.compactMap(undeclaredName).first
    }
  }
}
