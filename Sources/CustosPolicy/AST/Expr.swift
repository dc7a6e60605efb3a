/// A Cedar expression (named as in Cedar's own implementation; `Expression` would collide with Foundation).
public indirect enum Expr: Equatable, Sendable {
  public enum Variable: String, Hashable, Sendable { case principal, action, resource, context }
  public enum BinaryOperator: String, Hashable, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case `in`, add = "+", subtract = "-", multiply = "*"
  }

  case bool(Bool)
  case integer(Int64)
  case string(String)
  case entity(EntityUID)
  case variable(Variable)
  case set([Expr])
  /// Record literal members in the order written (duplicate names are a parse error).
  case record([RecordMember])
  case not(Expr)
  case negate(Expr)
  case and(Expr, Expr)
  case or(Expr, Expr)
  case binary(BinaryOperator, Expr, Expr)
  case ifThenElse(Expr, Expr, Expr)
  /// `e has a.b.c`: every attribute along the path.
  case has(Expr, [String])
  case like(Expr, Pattern)
  /// `e is T` or `e is T in f`.
  case `is`(Expr, String, in: Expr?)
  case attribute(Expr, String)
  /// `e.name(arguments)`: methods (`contains`, `lessThan`, ...) with `e` as the first argument.
  case method(Expr, String, [Expr])
  /// `name(arguments)`: extension constructors such as `ip("10.0.0.1")` or `decimal("1.5")`.
  case call(String, [Expr])
}

/// One `name: value` of a record literal.
public struct RecordMember: Equatable, Sendable {
  public var name: String
  public var value: Expr

  public init(name: String, value: Expr) {
    self.name = name
    self.value = value
  }
}
