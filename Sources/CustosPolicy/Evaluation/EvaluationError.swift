/// Why an expression could not be evaluated. A policy whose condition errors is skipped and reported.
public enum EvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
  case typeMismatch(expected: String, got: String, operation: String)
  case missingAttribute(String, on: String)
  case missingTag(String, on: String)
  case unknownEntity(EntityUID)
  case overflow(String)
  case unknownFunction(String)
  case wrongArity(String, expected: Int, got: Int)
  case invalidExtensionValue(String)

  public var description: String {
    switch self {
    case let .typeMismatch(expected, got, operation): return "\(operation): expected \(expected), got \(got)"
    case let .missingAttribute(name, on): return "attribute `\(name)` does not exist on \(on)"
    case let .missingTag(name, on): return "tag `\(name)` does not exist on \(on)"
    case let .unknownEntity(uid): return "entity \(uid) does not exist"
    case let .overflow(operation): return "integer overflow in \(operation)"
    case let .unknownFunction(name): return "unknown function or method `\(name)`"
    case let .wrongArity(name, expected, got): return "`\(name)` takes \(expected) argument(s), got \(got)"
    case let .invalidExtensionValue(why): return why
    }
  }
}
