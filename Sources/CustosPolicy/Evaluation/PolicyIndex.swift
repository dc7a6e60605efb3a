/// Policies indexed by what their principal scope pins, so a request evaluates only the policies that
/// can apply to its principal: those naming the principal or one of its ancestors (`==`, `in`), those
/// naming its type (`is`), and those with an open principal scope.
struct PolicyIndex: Sendable {
  private var byEntity: [EntityUID: [Int]] = [:]
  private var byType: [String: [Int]] = [:]
  private var unconstrained: [Int] = []

  init(_ policies: [Policy]) {
    for (i, policy) in policies.enumerated() {
      switch policy.principal {
      case .any: unconstrained.append(i)
      case let .equal(uid), let .in(uid), let .isIn(_, uid): byEntity[uid, default: []].append(i)
      case let .is(type): byType[type, default: []].append(i)
      }
    }
  }

  /// Indexes of the policies whose principal scope may match, ascending (the set's order).
  func candidates(for principal: EntityUID, entities: EntityStore) -> [Int] {
    var result = unconstrained
    if let direct = byEntity[principal] { result += direct }
    if let typed = byType[principal.type] { result += typed }
    for ancestor in entities.ancestors(of: principal) {
      if let inherited = byEntity[ancestor] { result += inherited }
    }
    result.sort()
    return result
  }
}
