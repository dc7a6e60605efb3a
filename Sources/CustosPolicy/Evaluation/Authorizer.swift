/// The answer to a request, with why.
public struct Decision: Sendable, Equatable {
  public enum Outcome: String, Sendable { case allow, deny }

  public var outcome: Outcome
  /// Ids of the determining policies: satisfied forbids on deny, else satisfied permits on allow.
  public var reasons: [String]
  /// Ids of policies whose conditions raised an error (they were skipped), with the error.
  public var errors: [(policy: String, error: EvaluationError)]

  public static func == (a: Decision, b: Decision) -> Bool {
    a.outcome == b.outcome && a.reasons == b.reasons && a.errors.map(\.policy) == b.errors.map(\.policy)
  }
}

/// Cedar's authorization semantics over a policy set: any satisfied forbid denies; otherwise any
/// satisfied permit allows; otherwise deny. A policy whose condition errors is skipped and reported.
public struct Authorizer: Sendable {
  public let policies: [Policy]
  private let index: PolicyIndex
  private let prepared: PolicyIndex.Prepared?

  /// An authorizer for any entity store.
  public init(policies: [Policy]) {
    self.policies = policies
    index = PolicyIndex(policies)
    prepared = nil
  }

  /// An authorizer that has resolved `entities` (and every overlay of it) against the policies'
  /// scopes once, so each request costs the same however many policies the set holds.
  public init(policies: [Policy], preparedFor entities: EntityStore) {
    self.policies = policies
    index = PolicyIndex(policies)
    prepared = index.prepare(for: entities)
  }

  public func authorize(_ request: Request, entities: EntityStore) -> Decision {
    let evaluator = Evaluator(request: request, entities: entities)
    var permits: [String] = []
    var forbids: [String] = []
    var errors: [(String, EvaluationError)] = []
    for i in index.candidates(for: request, entities: entities, prepared: prepared) {
      let policy = policies[i]
      guard scopeMatches(policy, request, entities) else { continue }
      do {
        guard try conditionsHold(policy, evaluator) else { continue }
        if policy.effect == .forbid { forbids.append(policy.id) } else { permits.append(policy.id) }
      } catch {
        errors.append((policy.id, error))
      }
    }
    if !forbids.isEmpty { return Decision(outcome: .deny, reasons: forbids, errors: errors) }
    if !permits.isEmpty { return Decision(outcome: .allow, reasons: permits, errors: errors) }
    return Decision(outcome: .deny, reasons: [], errors: errors)
  }

  private func conditionsHold(_ policy: Policy, _ evaluator: Evaluator) throws(EvaluationError) -> Bool {
    for condition in policy.conditions {
      let value = try evaluator.evaluate(condition.body)
      guard case let .bool(holds) = value else {
        throw .typeMismatch(expected: "bool", got: value.typeName, operation: "\(condition.kind.rawValue) condition")
      }
      if holds != (condition.kind == .when) { return false }
    }
    return true
  }

  private func scopeMatches(_ policy: Policy, _ request: Request, _ entities: EntityStore) -> Bool {
    func matches(_ constraint: Policy.EntityConstraint, _ uid: EntityUID) -> Bool {
      switch constraint {
      case .any: return true
      case let .equal(target): return uid == target
      case let .in(ancestor): return entities.isDescendant(uid, of: ancestor)
      case let .is(type): return uid.type == type
      case let .isIn(type, ancestor): return uid.type == type && entities.isDescendant(uid, of: ancestor)
      }
    }
    let actionMatches: Bool
    switch policy.action {
    case .any: actionMatches = true
    case let .equal(target): actionMatches = request.action == target
    case let .in(list): actionMatches = list.contains { entities.isDescendant(request.action, of: $0) }
    }
    return actionMatches && matches(policy.principal, request.principal) && matches(policy.resource, request.resource)
  }
}
