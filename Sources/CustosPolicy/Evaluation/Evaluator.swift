/// Evaluates expressions for one request against one entity store. Pure: no I/O, no shared state.
public struct Evaluator: Sendable {
  public let request: Request
  public let entities: EntityStore

  public init(request: Request, entities: EntityStore) {
    self.request = request
    self.entities = entities
  }

  public func evaluate(_ expr: Expr) throws(EvaluationError) -> Value {
    switch expr {
    case let .bool(b): return .bool(b)
    case let .integer(n): return .long(n)
    case let .string(s): return .string(s)
    case let .entity(uid): return .entity(uid)
    case let .variable(variable):
      switch variable {
      case .principal: return .entity(request.principal)
      case .action: return .entity(request.action)
      case .resource: return .entity(request.resource)
      case .context: return .record(request.context)
      }
    case let .set(elements):
      var values = Set<Value>()
      for element in elements { values.insert(try evaluate(element)) }
      return .set(values)
    case let .record(members):
      var values: [String: Value] = [:]
      for member in members { values[member.name] = try evaluate(member.value) }
      return .record(values)
    case let .not(operand):
      return .bool(!(try bool(operand, "!")))
    case let .negate(operand):
      let n = try long(operand, "negation")
      guard n != Int64.min else { throw .overflow("negation") }
      return .long(-n)
    case let .and(left, right):
      guard try bool(left, "&&") else { return .bool(false) }
      return .bool(try bool(right, "&&"))
    case let .or(left, right):
      if try bool(left, "||") { return .bool(true) }
      return .bool(try bool(right, "||"))
    case let .ifThenElse(condition, then, otherwise):
      return try bool(condition, "if") ? try evaluate(then) : try evaluate(otherwise)
    case let .binary(op, left, right):
      return try binary(op, try evaluate(left), try evaluate(right))
    case let .has(base, path):
      var value = try evaluate(base)
      for (i, name) in path.enumerated() {
        guard let next = try attributeIfPresent(value, name, "has") else { return .bool(false) }
        if i == path.count - 1 { return .bool(true) }
        value = next
      }
      return .bool(true)
    case let .like(operand, pattern):
      return .bool(pattern.matches(try string(operand, "like")))
    case let .is(operand, type, inExpr):
      let uid = try entity(operand, "is")
      guard uid.type == type else { return .bool(false) }
      guard let inExpr else { return .bool(true) }
      return try binary(.in, .entity(uid), try evaluate(inExpr))
    case let .attribute(base, name):
      let value = try evaluate(base)
      guard let attribute = try attributeIfPresent(value, name, "attribute access") else {
        throw .missingAttribute(name, on: Self.describe(value))
      }
      return attribute
    case let .method(base, name, arguments):
      return try Extensions.method(name, try evaluate(base), try arguments.map { (argument) throws(EvaluationError) in try evaluate(argument) }, entities: entities)
    case let .call(name, arguments):
      return try Extensions.call(name, try arguments.map { (argument) throws(EvaluationError) in try evaluate(argument) })
    }
  }

  static func describe(_ value: Value) -> String {
    if case let .entity(uid) = value { return "\(uid)" }
    return "a \(value.typeName)"
  }

  /// The attribute when present; nil when absent; an error when the value cannot have attributes.
  private func attributeIfPresent(_ value: Value, _ name: String, _ operation: String) throws(EvaluationError) -> Value? {
    switch value {
    case let .record(members): return members[name]
    case let .entity(uid):
      guard let entity = entities[uid] else {
        if operation == "has" { return nil }
        throw .unknownEntity(uid)
      }
      return entity.attributes[name]
    default: throw .typeMismatch(expected: "entity or record", got: value.typeName, operation: operation)
    }
  }

  private func binary(_ op: Expr.BinaryOperator, _ left: Value, _ right: Value) throws(EvaluationError) -> Value {
    switch op {
    case .equal: return .bool(left == right)
    case .notEqual: return .bool(left != right)
    case .less, .lessEqual, .greater, .greaterEqual:
      // Longs, datetimes and durations order; each only against its own kind.
      let a: Int64, b: Int64
      switch (left, right) {
      case let (.long(x), .long(y)), let (.datetime(x), .datetime(y)), let (.duration(x), .duration(y)): (a, b) = (x, y)
      case (.long, _), (.datetime, _), (.duration, _):
        throw .typeMismatch(expected: left.typeName, got: right.typeName, operation: op.rawValue)
      default:
        throw .typeMismatch(expected: "long, datetime or duration", got: left.typeName, operation: op.rawValue)
      }
      switch op {
      case .less: return .bool(a < b)
      case .lessEqual: return .bool(a <= b)
      case .greater: return .bool(a > b)
      default: return .bool(a >= b)
      }
    case .add, .subtract, .multiply:
      guard case let .long(a) = left else { throw .typeMismatch(expected: "long", got: left.typeName, operation: op.rawValue) }
      guard case let .long(b) = right else { throw .typeMismatch(expected: "long", got: right.typeName, operation: op.rawValue) }
      let (result, overflow) =
        op == .add ? a.addingReportingOverflow(b) : op == .subtract ? a.subtractingReportingOverflow(b) : a.multipliedReportingOverflow(by: b)
      guard !overflow else { throw .overflow("\(a) \(op.rawValue) \(b)") }
      return .long(result)
    case .in:
      guard case let .entity(uid) = left else { throw .typeMismatch(expected: "entity", got: left.typeName, operation: "in") }
      switch right {
      case let .entity(ancestor): return .bool(entities.isDescendant(uid, of: ancestor))
      case let .set(values):
        var result = false
        for value in values {
          guard case let .entity(ancestor) = value else {
            throw .typeMismatch(expected: "set of entities", got: "set containing a \(value.typeName)", operation: "in")
          }
          if entities.isDescendant(uid, of: ancestor) { result = true }
        }
        return .bool(result)
      default:
        throw .typeMismatch(expected: "entity or set of entities", got: right.typeName, operation: "in")
      }
    }
  }

  private func bool(_ expr: Expr, _ operation: String) throws(EvaluationError) -> Bool {
    let value = try evaluate(expr)
    guard case let .bool(b) = value else { throw .typeMismatch(expected: "bool", got: value.typeName, operation: operation) }
    return b
  }

  private func long(_ expr: Expr, _ operation: String) throws(EvaluationError) -> Int64 {
    let value = try evaluate(expr)
    guard case let .long(n) = value else { throw .typeMismatch(expected: "long", got: value.typeName, operation: operation) }
    return n
  }

  private func string(_ expr: Expr, _ operation: String) throws(EvaluationError) -> String {
    let value = try evaluate(expr)
    guard case let .string(s) = value else { throw .typeMismatch(expected: "string", got: value.typeName, operation: operation) }
    return s
  }

  private func entity(_ expr: Expr, _ operation: String) throws(EvaluationError) -> EntityUID {
    let value = try evaluate(expr)
    guard case let .entity(uid) = value else { throw .typeMismatch(expected: "entity", got: value.typeName, operation: operation) }
    return uid
  }
}
