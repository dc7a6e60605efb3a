/// Why an expression does not type-check against a schema.
public enum TypeError: Error, Equatable, Sendable, CustomStringConvertible {
  case unexpectedType(String, operation: String)
  case incompatibleTypes(String, String, operation: String)
  case attributeNotFound(String, on: String)
  case tagNotFound(on: String)
  case unknownEntityType(String)
  case unknownEntity(EntityUID)
  case invalidExtensionCall(String)
  case emptySet
  case notBoolean(String)

  public var description: String {
    switch self {
    case let .unexpectedType(type, operation): return "\(operation) cannot take a \(type)"
    case let .incompatibleTypes(a, b, operation): return "\(operation): \(a) and \(b) have no common type"
    case let .attributeNotFound(name, type): return "attribute `\(name)` is not known to exist on \(type) (test it with `has` first if it is optional)"
    case let .tagNotFound(type): return "tag is not known to exist on \(type) (test it with `hasTag` first, and declare `tags` in the schema)"
    case let .unknownEntityType(name): return "entity type \(name) is not declared in the schema"
    case let .unknownEntity(uid): return "\(uid) is not declared in the schema (unknown action or enumerated id)"
    case let .invalidExtensionCall(detail): return detail
    case .emptySet: return "an empty set literal has no type"
    case let .notBoolean(type): return "a condition must be Bool, not \(type)"
    }
  }
}
