extension Schema {
  /// Problems with `request` under this schema (empty when it is valid): the action must be declared,
  /// the principal and resource types must be ones it applies to (and enumerated ids must exist), and
  /// the context must have exactly the declared attributes with values of the declared types.
  public func problems(with request: Request) -> [String] {
    guard let action = actions[request.action] else { return ["action \(request.action) is not declared in the schema"] }
    var problems: [String] = []
    for (role, uid, allowed) in [("principal", request.principal, action.principals), ("resource", request.resource, action.resources)] {
      if !allowed.contains(uid.type) {
        problems.append("\(role) type \(uid.type) is not one \(request.action) applies to (\(allowed.sorted().joined(separator: ", ")))")
      } else if let ids = entityTypes[uid.type]?.enumeratedIDs, !ids.contains(uid.id) {
        problems.append("\(role) \(uid) is not one of the enumerated \(uid.type) ids")
      }
    }
    problems += mismatches(.record(request.context), .record(action.context), at: "context")
    return problems
  }

  private func mismatches(_ value: Value, _ type: AttributeType, at path: String) -> [String] {
    switch (value, type) {
    case (.long, .long), (.string, .string), (.bool, .bool): return []
    case let (.entity(uid), .entity(name)):
      guard uid.type == name else { return ["\(path): expected an entity of type \(name), got \(uid.type)"] }
      if let ids = entityTypes[name]?.enumeratedIDs, !ids.contains(uid.id) { return ["\(path): \(uid) is not one of the enumerated ids"] }
      return []
    case let (.set(elements), .set(element)):
      return elements.flatMap { mismatches($0, element, at: "\(path)[]") }
    case let (.record(members), .record(fields)):
      var problems: [String] = []
      for (name, field) in fields where field.required && members[name] == nil { problems.append("\(path).\(name): required, missing") }
      for (name, member) in members {
        guard let field = fields[name] else {
          problems.append("\(path).\(name): not declared")
          continue
        }
        problems += mismatches(member, field.type, at: "\(path).\(name)")
      }
      return problems
    case (.ipaddr, .extension("ipaddr")), (.decimal, .extension("decimal")), (.datetime, .extension("datetime")),
      (.duration, .extension("duration")):
      return []
    default:
      return ["\(path): expected \(Self.describe(type)), got a \(value.typeName)"]
    }
  }

  static func describe(_ type: AttributeType) -> String {
    switch type {
    case .long: return "Long"
    case .string: return "String"
    case .bool: return "Bool"
    case let .set(element): return "Set<\(describe(element))>"
    case .record: return "a record"
    case let .entity(name): return "an entity of type \(name)"
    case let .extension(name): return name
    }
  }
}
