/// What the typechecker needs of a schema, computed once per validation: each entity type's and each
/// action's transitive ancestors.
struct SchemaIndex: Sendable {
  let schema: Schema
  let entityTypeAncestors: [String: Set<String>]
  let actionAncestors: [EntityUID: Set<EntityUID>]
  /// The entity types of declared actions (`Action`, `Namespace::Action`).
  let actionTypes: Set<String>
  /// Each declared entity type's attributes, as the checker's types.
  let entityAttributes: [String: [String: CedarType.Attribute]]

  init(_ schema: Schema) {
    self.schema = schema
    entityAttributes = schema.entityTypes.mapValues { CedarType.attributes($0.attributes) }
    entityTypeAncestors = Self.closure(schema.entityTypes.mapValues { Set($0.memberOf) })
    actionAncestors = Self.closure(schema.actions.mapValues { Set($0.memberOf) })
    actionTypes = Set(schema.actions.keys.map(\.type))
  }

  private static func closure<Node: Hashable>(_ parents: [Node: Set<Node>]) -> [Node: Set<Node>] {
    var result: [Node: Set<Node>] = [:]
    for start in parents.keys {
      var seen = Set<Node>()
      var pending = Array(parents[start] ?? [])
      while let next = pending.popLast() {
        if seen.insert(next).inserted { pending += parents[next] ?? [] }
      }
      result[start] = seen
    }
    return result
  }

  func isDescendant(_ type: String, of ancestor: String) -> Bool {
    type == ancestor || entityTypeAncestors[type]?.contains(ancestor) == true
  }

  func isDescendant(_ action: EntityUID, of ancestor: EntityUID) -> Bool {
    action == ancestor || actionAncestors[action]?.contains(ancestor) == true
  }

  /// Declared in the schema: an action, or an entity of a declared type (one of its ids, if enumerated).
  func isDeclared(_ uid: EntityUID) -> Bool {
    if schema.actions[uid] != nil { return true }
    guard let type = schema.entityTypes[uid.type] else { return false }
    return type.enumeratedIDs?.contains(uid.id) ?? true
  }
}

/// One request type a policy is checked under: a principal type, an action, a resource type, and the
/// action's context.
struct RequestType: Sendable {
  var principal: String
  var action: EntityUID
  var resource: String
  var context: [String: CedarType.Attribute]
}

/// Cedar's strict typechecker for one request type. Booleans are typed as `true`, `false` or either,
/// and `&&`, `||` and `if` skip what can never be evaluated; capabilities record which optional
/// attributes and tags a `has`/`hasTag` guard has shown to exist.
struct Typechecker {
  struct Capability: Equatable {
    enum Key: Equatable {
      case attribute(String)
      case tag(Expr)
    }
    var base: Expr
    var key: Key
  }

  typealias Capabilities = [Capability]
  typealias Typed = (type: CedarType, capabilities: Capabilities)

  let index: SchemaIndex
  let request: RequestType

  func typeOf(_ expr: Expr, _ known: Capabilities = []) throws(TypeError) -> Typed {
    switch expr {
    case let .bool(value): return (.bool(value ? .true : .false), [])
    case .integer: return (.long, [])
    case .string: return (.string, [])
    case let .entity(uid):
      guard index.schema.entityTypes[uid.type] != nil || index.schema.actions[uid] != nil else {
        throw .unknownEntityType(uid.type)
      }
      return (.entity(uid.type), [])
    case let .variable(variable):
      switch variable {
      case .principal: return (.entity(request.principal), [])
      case .action: return (.entity(request.action.type), [])
      case .resource: return (.entity(request.resource), [])
      case .context: return (.record(request.context), [])
      }
    case let .set(elements):
      guard var element = try elements.first.map({ (first) throws(TypeError) in try typeOf(first, known).type }) else {
        throw .emptySet
      }
      for other in elements.dropFirst() {
        let type = try typeOf(other, known).type
        guard let merged = CedarType.leastUpperBound(element, type) else {
          throw .incompatibleTypes("\(element)", "\(type)", operation: "set literal")
        }
        element = merged
      }
      return (.set(element), [])
    case let .record(members):
      var attributes: [String: CedarType.Attribute] = [:]
      for member in members { attributes[member.name] = .init(type: try typeOf(member.value, known).type, required: true) }
      return (.record(attributes), [])
    case let .not(operand):
      let type = try typeOf(operand, known).type
      guard case let .bool(value) = type else { throw .unexpectedType("\(type)", operation: "!") }
      return (.bool(value.negated), [])
    case let .negate(operand):
      let type = try typeOf(operand, known).type
      guard type == .long else { throw .unexpectedType("\(type)", operation: "-") }
      return (.long, [])
    case let .and(left, right): return try and(left, right, known)
    case let .or(left, right): return try or(left, right, known)
    case let .ifThenElse(condition, then, otherwise): return try ifThenElse(condition, then, otherwise, known)
    case let .binary(op, left, right): return try binary(op, left, right, known)
    case let .has(base, path):
      guard let first = path.first else { return (.bool(.true), []) }
      if path.count > 1 {
        // `e has a.b` means `e has a && e.a has b`.
        return try typeOf(.and(.has(base, [first]), .has(.attribute(base, first), Array(path.dropFirst()))), known)
      }
      return try hasAttribute(base, first, known)
    case let .like(operand, _):
      let type = try typeOf(operand, known).type
      guard type == .string else { throw .unexpectedType("\(type)", operation: "like") }
      return (.bool(.any), [])
    case let .is(operand, type, inExpr):
      if let inExpr { return try typeOf(.and(.is(operand, type, in: nil), .binary(.in, operand, inExpr)), known) }
      let operandType = try typeOf(operand, known).type
      guard case let .entity(name) = operandType else { throw .unexpectedType("\(operandType)", operation: "is") }
      return (.bool(name == type ? .true : .false), [])
    case let .attribute(base, name): return try attribute(base, name, known)
    case let .method(base, name, arguments): return try method(base, name, arguments, known)
    case let .call(name, arguments): return (try ExtensionTypes.construct(name, arguments), [])
    }
  }

  private func and(_ left: Expr, _ right: Expr, _ known: Capabilities) throws(TypeError) -> Typed {
    let (leftType, leftCapabilities) = try typeOf(left, known)
    guard case let .bool(a) = leftType else { throw .unexpectedType("\(leftType)", operation: "&&") }
    if a == .false { return (.bool(.false), []) }
    let (rightType, rightCapabilities) = try typeOf(right, union(known, leftCapabilities))
    guard case let .bool(b) = rightType else { throw .unexpectedType("\(rightType)", operation: "&&") }
    switch b {
    case .false: return (.bool(.false), [])
    case .true: return (.bool(a), union(leftCapabilities, rightCapabilities))
    case .any: return (.bool(.any), union(leftCapabilities, rightCapabilities))
    }
  }

  private func or(_ left: Expr, _ right: Expr, _ known: Capabilities) throws(TypeError) -> Typed {
    let (leftType, leftCapabilities) = try typeOf(left, known)
    guard case let .bool(a) = leftType else { throw .unexpectedType("\(leftType)", operation: "||") }
    if a == .true { return (.bool(.true), []) }
    let (rightType, rightCapabilities) = try typeOf(right, known)
    guard case let .bool(b) = rightType else { throw .unexpectedType("\(rightType)", operation: "||") }
    if a == .false { return (rightType, rightCapabilities) }
    switch b {
    case .true: return (.bool(.true), [])
    case .false: return (.bool(a), leftCapabilities)
    case .any: return (.bool(.any), leftCapabilities.filter(rightCapabilities.contains))
    }
  }

  private func ifThenElse(_ condition: Expr, _ then: Expr, _ otherwise: Expr, _ known: Capabilities) throws(TypeError) -> Typed {
    let (conditionType, conditionCapabilities) = try typeOf(condition, known)
    guard case let .bool(value) = conditionType else { throw .unexpectedType("\(conditionType)", operation: "if") }
    switch value {
    case .true:
      let (type, capabilities) = try typeOf(then, union(known, conditionCapabilities))
      return (type, union(conditionCapabilities, capabilities))
    case .false:
      return try typeOf(otherwise, known)
    case .any:
      let (thenType, thenCapabilities) = try typeOf(then, union(known, conditionCapabilities))
      let (elseType, elseCapabilities) = try typeOf(otherwise, known)
      guard let type = CedarType.leastUpperBound(thenType, elseType) else {
        throw .incompatibleTypes("\(thenType)", "\(elseType)", operation: "if-then-else")
      }
      return (type, union(conditionCapabilities, thenCapabilities).filter(elseCapabilities.contains))
    }
  }

  private func binary(_ op: Expr.BinaryOperator, _ left: Expr, _ right: Expr, _ known: Capabilities) throws(TypeError) -> Typed {
    let leftType = try typeOf(left, known).type
    let rightType = try typeOf(right, known).type
    switch op {
    case .equal: return (.bool(try equality(leftType, rightType, left, right)), [])
    case .notEqual: return (.bool(try equality(leftType, rightType, left, right).negated), [])
    case .less, .lessEqual, .greater, .greaterEqual:
      switch (leftType, rightType) {
      case (.long, .long), (.extension("datetime"), .extension("datetime")), (.extension("duration"), .extension("duration")):
        return (.bool(.any), [])
      default: throw .incompatibleTypes("\(leftType)", "\(rightType)", operation: op.rawValue)
      }
    case .add, .subtract, .multiply:
      guard leftType == .long, rightType == .long else { throw .incompatibleTypes("\(leftType)", "\(rightType)", operation: op.rawValue) }
      return (.long, [])
    case .in:
      switch (leftType, rightType) {
      case let (.entity(descendant), .entity(ancestor)):
        if let action = actionLiteral(left), let target = entityLiteral(right) {
          return (.bool(index.isDescendant(action, of: target) ? .true : .false), [])
        }
        return (.bool(index.isDescendant(descendant, of: ancestor) ? .any : .false), [])
      case let (.entity(descendant), .set(.entity(ancestor))):
        if let action = actionLiteral(left), case let .set(elements) = right {
          let targets = elements.compactMap(entityLiteral)
          if targets.count == elements.count {
            return (.bool(targets.contains { index.isDescendant(action, of: $0) } ? .true : .false), [])
          }
        }
        return (.bool(index.isDescendant(descendant, of: ancestor) ? .any : .false), [])
      default: throw .unexpectedType("\(leftType) in \(rightType)", operation: "in")
      }
    }
  }

  /// `==`: literals compare statically; otherwise the operands need a common type, except that
  /// entities of different types are simply never equal.
  private func equality(_ a: CedarType, _ b: CedarType, _ left: Expr, _ right: Expr) throws(TypeError) -> CedarType.BoolType {
    if let x = literal(left), let y = literal(right) { return x == y ? .true : .false }
    if CedarType.leastUpperBound(a, b) != nil { return .any }
    if case .entity = a, case .entity = b { return .false }
    throw .incompatibleTypes("\(a)", "\(b)", operation: "==")
  }

  /// The attributes a value of `type` may have, and whether its required ones surely exist (a record's
  /// do; an entity may be missing from the store). Nil for an action, which has no attributes.
  private func attributes(of type: CedarType, _ operation: String) throws(TypeError) -> (attributes: [String: CedarType.Attribute], knownToExist: Bool)? {
    switch type {
    case let .record(members): return (members, true)
    case let .entity(entityType):
      if let declared = index.entityAttributes[entityType] { return (declared, false) }
      if index.actionTypes.contains(entityType) { return nil }
      throw .unknownEntityType(entityType)
    default: throw .unexpectedType("\(type)", operation: operation)
    }
  }

  private func hasAttribute(_ base: Expr, _ name: String, _ known: Capabilities) throws(TypeError) -> Typed {
    guard let (attributes, knownToExist) = try attributes(of: try typeOf(base, known).type, "has") else { return (.bool(.false), []) }
    guard let attribute = attributes[name] else { return (.bool(.false), []) }
    let capability = Capability(base: base, key: .attribute(name))
    if known.contains(capability) || (attribute.required && knownToExist) { return (.bool(.true), []) }
    return (.bool(.any), [capability])
  }

  private func attribute(_ base: Expr, _ name: String, _ known: Capabilities) throws(TypeError) -> Typed {
    let type = try typeOf(base, known).type
    guard let (attributes, _) = try attributes(of: type, "attribute access .\(name)") else {
      throw .unknownEntityType("\(type)")
    }
    guard let attribute = attributes[name],
      attribute.required || known.contains(Capability(base: base, key: .attribute(name)))
    else { throw .attributeNotFound(name, on: "\(type)") }
    return (attribute.type, [])
  }

  private func method(_ base: Expr, _ name: String, _ arguments: [Expr], _ known: Capabilities) throws(TypeError) -> Typed {
    let receiver = try typeOf(base, known).type
    var argumentTypes: [CedarType] = []
    for argument in arguments { argumentTypes.append(try typeOf(argument, known).type) }
    switch (name, receiver, argumentTypes.count) {
    case let ("contains", .set(element), 1):
      guard CedarType.leastUpperBound(element, argumentTypes[0]) != nil else {
        throw .incompatibleTypes("\(receiver)", "\(argumentTypes[0])", operation: "contains")
      }
      return (.bool(.any), [])
    case ("containsAll", .set(let element), 1), ("containsAny", .set(let element), 1):
      guard case let .set(other) = argumentTypes[0], CedarType.leastUpperBound(element, other) != nil else {
        throw .incompatibleTypes("\(receiver)", "\(argumentTypes[0])", operation: name)
      }
      return (.bool(.any), [])
    case ("isEmpty", .set, 0):
      return (.bool(.any), [])
    case let ("hasTag", .entity(entityType), 1) where argumentTypes[0] == .string:
      guard let declared = index.schema.entityTypes[entityType] else {
        if index.actionTypes.contains(entityType) { return (.bool(.false), []) }
        throw .unknownEntityType(entityType)
      }
      guard declared.tags != nil else { return (.bool(.false), []) }
      let capability = Capability(base: base, key: .tag(arguments[0]))
      return known.contains(capability) ? (.bool(.true), []) : (.bool(.any), [capability])
    case let ("getTag", .entity(entityType), 1) where argumentTypes[0] == .string:
      guard let declared = index.schema.entityTypes[entityType] else { throw .unknownEntityType(entityType) }
      guard let tags = declared.tags, known.contains(Capability(base: base, key: .tag(arguments[0]))) else {
        throw .tagNotFound(on: entityType)
      }
      return (CedarType(tags), [])
    case ("contains", _, _), ("containsAll", _, _), ("containsAny", _, _), ("isEmpty", _, _), ("hasTag", _, _), ("getTag", _, _):
      throw .unexpectedType("\(receiver)\(argumentTypes.map { ", \($0)" }.joined())", operation: name)
    default:
      return (try ExtensionTypes.method(name, [receiver] + argumentTypes), [])
    }
  }

  private func union(_ a: Capabilities, _ b: Capabilities) -> Capabilities {
    a + b.filter { !a.contains($0) }
  }

  /// A literal the checker may compare statically; `action` is the request type's action.
  private func literal(_ expr: Expr) -> Expr? {
    switch expr {
    case .bool, .integer, .string, .entity: return expr
    case .variable(.action): return .entity(request.action)
    default: return nil
    }
  }

  private func entityLiteral(_ expr: Expr) -> EntityUID? {
    if case let .entity(uid)? = literal(expr) { return uid }
    return nil
  }

  private func actionLiteral(_ expr: Expr) -> EntityUID? {
    guard let uid = entityLiteral(expr), index.schema.actions[uid] != nil else { return nil }
    return uid
  }
}
