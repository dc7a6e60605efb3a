/// The validator's types (Cedar's strict type system). Booleans carry what is known statically, so
/// `false && e` is typed without `e` and a scope that cannot match a request type reads as `false`.
indirect enum CedarType: Equatable, Sendable, CustomStringConvertible {
  enum BoolType: Equatable, Sendable {
    case `true`, `false`, any

    var negated: BoolType {
      switch self {
      case .true: return .false
      case .false: return .true
      case .any: return .any
      }
    }
  }

  /// A record attribute's type, and whether every value of the record has it.
  struct Attribute: Equatable, Sendable {
    var type: CedarType
    var required: Bool
  }

  case bool(BoolType)
  case long
  case string
  case entity(String)
  case set(CedarType)
  case record([String: Attribute])
  /// `ipaddr`, `decimal`, `datetime` or `duration`.
  case `extension`(String)

  init(_ type: Schema.AttributeType) {
    switch type {
    case .long: self = .long
    case .string: self = .string
    case .bool: self = .bool(.any)
    case let .set(element): self = .set(CedarType(element))
    case let .record(attributes): self = .record(CedarType.attributes(attributes))
    case let .entity(name): self = .entity(name)
    case let .extension(name): self = .extension(name)
    }
  }

  static func attributes(_ attributes: [String: Schema.Attribute]) -> [String: Attribute] {
    attributes.mapValues { Attribute(type: CedarType($0.type), required: $0.required) }
  }

  /// The least upper bound in strict mode: equal types, booleans of any kind, and sets and records
  /// whose parts have one. Records must have the same attribute names; different entity types have none.
  static func leastUpperBound(_ a: CedarType, _ b: CedarType) -> CedarType? {
    switch (a, b) {
    case let (.bool(x), .bool(y)): return .bool(x == y ? x : .any)
    case let (.set(x), .set(y)): return leastUpperBound(x, y).map { .set($0) }
    case let (.record(x), .record(y)):
      guard Set(x.keys) == Set(y.keys) else { return nil }
      var merged: [String: Attribute] = [:]
      for (name, left) in x {
        let right = y[name]!
        guard let type = leastUpperBound(left.type, right.type) else { return nil }
        merged[name] = Attribute(type: type, required: left.required && right.required)
      }
      return .record(merged)
    default: return a == b ? a : nil
    }
  }

  var description: String {
    switch self {
    case .bool(.true): return "true"
    case .bool(.false): return "false"
    case .bool(.any): return "Bool"
    case .long: return "Long"
    case .string: return "String"
    case let .entity(name): return name
    case let .set(element): return "Set<\(element)>"
    case let .record(attributes):
      let members = attributes.keys.sorted().map { "\($0)\(attributes[$0]!.required ? "" : "?"): \(attributes[$0]!.type)" }
      return "{\(members.joined(separator: ", "))}"
    case let .extension(name): return name
    }
  }
}
