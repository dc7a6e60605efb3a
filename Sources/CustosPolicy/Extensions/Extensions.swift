/// Built-in methods (set operations, tags) and extension functions (ip, decimal).
enum Extensions {
  /// The extension functions that construct a value from a string.
  static let constructors: Set<String> = ["ip", "decimal", "datetime", "duration"]

  static func call(_ name: String, _ arguments: [Value]) throws(EvaluationError) -> Value {
    switch name {
    case "ip":
      let text = try single(name, arguments)
      guard let ip = IPAddress(text) else { throw .invalidExtensionValue("invalid IP address \"\(text)\"") }
      return .ipaddr(ip)
    case "decimal":
      let text = try single(name, arguments)
      guard let decimal = Decimal4(text) else { throw .invalidExtensionValue("invalid decimal \"\(text)\"") }
      return .decimal(decimal)
    case "datetime":
      let text = try single(name, arguments)
      guard let ms = DateTime.parseDatetime(text) else { throw .invalidExtensionValue("invalid datetime \"\(text)\"") }
      return .datetime(ms)
    case "duration":
      let text = try single(name, arguments)
      guard let ms = DateTime.parseDuration(text) else { throw .invalidExtensionValue("invalid duration \"\(text)\"") }
      return .duration(ms)
    default:
      throw .unknownFunction(name)
    }
  }

  private static func single(_ name: String, _ arguments: [Value]) throws(EvaluationError) -> String {
    guard arguments.count == 1 else { throw .wrongArity(name, expected: 1, got: arguments.count) }
    guard case let .string(text) = arguments[0] else {
      throw .typeMismatch(expected: "string", got: arguments[0].typeName, operation: name)
    }
    return text
  }

  static func method(_ name: String, _ receiver: Value, _ arguments: [Value], entities: EntityStore) throws(EvaluationError) -> Value {
    func arity(_ n: Int) throws(EvaluationError) {
      guard arguments.count == n else { throw .wrongArity(name, expected: n, got: arguments.count) }
    }
    func set(_ value: Value, _ role: String) throws(EvaluationError) -> Set<Value> {
      guard case let .set(values) = value else { throw .typeMismatch(expected: "set", got: value.typeName, operation: "\(name) \(role)") }
      return values
    }
    switch name {
    case "contains":
      try arity(1)
      return .bool(try set(receiver, "receiver").contains(arguments[0]))
    case "containsAll":
      try arity(1)
      return .bool(try set(arguments[0], "argument").isSubset(of: try set(receiver, "receiver")))
    case "containsAny":
      try arity(1)
      return .bool(!(try set(arguments[0], "argument")).isDisjoint(with: try set(receiver, "receiver")))
    case "isEmpty":
      try arity(0)
      return .bool(try set(receiver, "receiver").isEmpty)
    case "hasTag", "getTag":
      try arity(1)
      guard case let .entity(uid) = receiver else { throw .typeMismatch(expected: "entity", got: receiver.typeName, operation: name) }
      guard case let .string(tag) = arguments[0] else {
        throw .typeMismatch(expected: "string", got: arguments[0].typeName, operation: name)
      }
      guard let entity = entities[uid] else {
        if name == "hasTag" { return .bool(false) }
        throw .unknownEntity(uid)
      }
      if name == "hasTag" { return .bool(entity.tags[tag] != nil) }
      guard let value = entity.tags[tag] else { throw .missingTag(tag, on: "\(uid)") }
      return value
    case "isIpv4", "isIpv6", "isLoopback", "isMulticast":
      try arity(0)
      guard case let .ipaddr(ip) = receiver else { throw .typeMismatch(expected: "ipaddr", got: receiver.typeName, operation: name) }
      switch name {
      case "isIpv4": return .bool(ip.isIPv4)
      case "isIpv6": return .bool(!ip.isIPv4)
      case "isLoopback": return .bool(ip.isLoopback)
      default: return .bool(ip.isMulticast)
      }
    case "isInRange":
      try arity(1)
      guard case let .ipaddr(ip) = receiver else { throw .typeMismatch(expected: "ipaddr", got: receiver.typeName, operation: name) }
      guard case let .ipaddr(range) = arguments[0] else {
        throw .typeMismatch(expected: "ipaddr", got: arguments[0].typeName, operation: name)
      }
      return .bool(ip.isInRange(range))
    case "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual":
      try arity(1)
      guard case let .decimal(a) = receiver else { throw .typeMismatch(expected: "decimal", got: receiver.typeName, operation: name) }
      guard case let .decimal(b) = arguments[0] else {
        throw .typeMismatch(expected: "decimal", got: arguments[0].typeName, operation: name)
      }
      switch name {
      case "lessThan": return .bool(a < b)
      case "lessThanOrEqual": return .bool(a <= b)
      case "greaterThan": return .bool(a > b)
      default: return .bool(a >= b)
      }
    case "offset", "durationSince", "toDate", "toTime":
      guard case let .datetime(ms) = receiver else { throw .typeMismatch(expected: "datetime", got: receiver.typeName, operation: name) }
      switch name {
      case "offset":
        try arity(1)
        guard case let .duration(delta) = arguments[0] else {
          throw .typeMismatch(expected: "duration", got: arguments[0].typeName, operation: name)
        }
        let (sum, overflow) = ms.addingReportingOverflow(delta)
        guard !overflow else { throw .overflow("datetime offset") }
        return .datetime(sum)
      case "durationSince":
        try arity(1)
        guard case let .datetime(other) = arguments[0] else {
          throw .typeMismatch(expected: "datetime", got: arguments[0].typeName, operation: name)
        }
        let (difference, overflow) = ms.subtractingReportingOverflow(other)
        guard !overflow else { throw .overflow("durationSince") }
        return .duration(difference)
      case "toDate":
        try arity(0)
        let (day, _) = DateTime.splitDay(ms)
        return .datetime(day)
      default:
        try arity(0)
        return .duration(DateTime.splitDay(ms).time)
      }
    case "toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays":
      try arity(0)
      guard case let .duration(ms) = receiver else { throw .typeMismatch(expected: "duration", got: receiver.typeName, operation: name) }
      let divisor: Int64 = ["toMilliseconds": 1, "toSeconds": 1000, "toMinutes": 60_000, "toHours": 3_600_000, "toDays": 86_400_000][name]!
      return .long(ms / divisor)
    default:
      throw .unknownFunction(name)
    }
  }
}
