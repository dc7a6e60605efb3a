/// One parsed Cedar policy.
public struct Policy: Sendable, Equatable {
  public enum Effect: String, Sendable { case permit, forbid }

  /// A principal or resource scope constraint.
  public enum EntityConstraint: Sendable, Equatable {
    case any
    case equal(EntityUID)
    case `in`(EntityUID)
    case `is`(String)
    case isIn(String, EntityUID)
  }

  /// The action scope constraint.
  public enum ActionConstraint: Sendable, Equatable {
    case any
    case equal(EntityUID)
    case `in`([EntityUID])
  }

  public enum ConditionKind: String, Sendable { case when, unless }

  public struct Condition: Sendable, Equatable {
    public var kind: ConditionKind
    public var body: Expr
  }

  /// `policy0`, `policy1`, ... by position in its file, as Cedar assigns them.
  public var id: String
  public var effect: Effect
  public var principal: EntityConstraint
  public var action: ActionConstraint
  public var resource: EntityConstraint
  public var conditions: [Condition]
  /// `@name("value")` annotations, in order; `@id` names the policy for operators.
  public var annotations: [(String, String)]
  public var location: SourceLocation

  /// The `@id` annotation, if any.
  public var annotatedID: String? { annotations.first { $0.0 == "id" }?.1 }

  public static func == (a: Policy, b: Policy) -> Bool {
    a.id == b.id && a.effect == b.effect && a.principal == b.principal && a.action == b.action && a.resource == b.resource
      && a.conditions == b.conditions && a.annotations.map(\.0) == b.annotations.map(\.0)
      && a.annotations.map(\.1) == b.annotations.map(\.1)
  }
}
