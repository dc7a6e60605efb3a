/// A Cedar runtime value.
public enum Value: Hashable, Sendable, CustomStringConvertible {
  case bool(Bool)
  case long(Int64)
  case string(String)
  case entity(EntityUID)
  case set(Set<Value>)
  case record([String: Value])
  case ipaddr(IPAddress)
  case decimal(Decimal4)
  /// Milliseconds since the Unix epoch.
  case datetime(Int64)
  /// Milliseconds.
  case duration(Int64)

  /// The type name used in error messages.
  public var typeName: String {
    switch self {
    case .bool: return "bool"
    case .long: return "long"
    case .string: return "string"
    case .entity: return "entity"
    case .set: return "set"
    case .record: return "record"
    case .ipaddr: return "ipaddr"
    case .decimal: return "decimal"
    case .datetime: return "datetime"
    case .duration: return "duration"
    }
  }

  public var description: String {
    switch self {
    case let .bool(b): return "\(b)"
    case let .long(n): return "\(n)"
    case let .string(s): return "\"\(s)\""
    case let .entity(uid): return "\(uid)"
    case let .set(values): return "[\(values.map(\.description).sorted().joined(separator: ", "))]"
    case let .record(members): return "{\(members.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))}"
    case let .ipaddr(ip): return "ip(\"\(ip)\")"
    case let .decimal(d): return "decimal(\"\(d)\")"
    case let .datetime(ms): return "datetime(\(ms)ms)"
    case let .duration(ms): return "duration(\"\(ms)ms\")"
    }
  }
}
