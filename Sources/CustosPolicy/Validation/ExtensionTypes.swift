/// The types of the extension functions: constructors take one string literal that must parse (so a
/// bad literal is caught before any request), methods take the extension types they operate on.
enum ExtensionTypes {
  static func construct(_ name: String, _ arguments: [Expr]) throws(TypeError) -> CedarType {
    guard arguments.count == 1, case let .string(text) = arguments[0] else {
      throw .invalidExtensionCall("\(name)(...) takes one string literal")
    }
    let valid: Bool
    switch name {
    case "ip": valid = IPAddress(text) != nil
    case "decimal": valid = Decimal4(text) != nil
    case "datetime": valid = DateTime.parseDatetime(text) != nil
    case "duration": valid = DateTime.parseDuration(text) != nil
    default: throw .invalidExtensionCall("unknown extension function \(name)")
    }
    guard valid else { throw .invalidExtensionCall("\(name)(\"\(text)\") is not a valid \(name == "ip" ? "ipaddr" : name)") }
    return .extension(name == "ip" ? "ipaddr" : name)
  }

  /// `types` starts with the receiver's.
  static func method(_ name: String, _ types: [CedarType]) throws(TypeError) -> CedarType {
    let decimal = CedarType.extension("decimal"), ip = CedarType.extension("ipaddr")
    let datetime = CedarType.extension("datetime"), duration = CedarType.extension("duration")
    switch (name, types) {
    case ("lessThan", [decimal, decimal]), ("lessThanOrEqual", [decimal, decimal]), ("greaterThan", [decimal, decimal]),
      ("greaterThanOrEqual", [decimal, decimal]):
      return .bool(.any)
    case ("isIpv4", [ip]), ("isIpv6", [ip]), ("isLoopback", [ip]), ("isMulticast", [ip]), ("isInRange", [ip, ip]):
      return .bool(.any)
    case ("offset", [datetime, duration]), ("toDate", [datetime]): return datetime
    case ("durationSince", [datetime, datetime]), ("toTime", [datetime]): return duration
    case ("toMilliseconds", [duration]), ("toSeconds", [duration]), ("toMinutes", [duration]), ("toHours", [duration]),
      ("toDays", [duration]):
      return .long
    default:
      throw .invalidExtensionCall("\(name) cannot take (\(types.map(\.description).joined(separator: ", ")))")
    }
  }
}
