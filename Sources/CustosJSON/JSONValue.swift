/// A JSON value restricted to what the ledger accepts: no floating-point numbers, integers within Int64.
public enum JSONValue: Sendable, Equatable {
  case null
  case bool(Bool)
  case integer(Int64)
  case string(String)
  case array([JSONValue])
  /// Members in any order; canonical encoding sorts them. Keys are unique.
  case object([String: JSONValue])

  /// The members when this is an object.
  public var objectValue: [String: JSONValue]? {
    if case let .object(members) = self { return members }
    return nil
  }

  /// The string when this is a string.
  public var stringValue: String? {
    if case let .string(value) = self { return value }
    return nil
  }

  /// The integer when this is an integer.
  public var integerValue: Int64? {
    if case let .integer(value) = self { return value }
    return nil
  }
}
