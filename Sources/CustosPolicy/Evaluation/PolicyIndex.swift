/// Policies indexed by what their principal and action scopes pin, so a request evaluates only the
/// policies that can apply to it: those whose principal scope names the principal, one of its ancestors
/// or its type (or is open), and whose action scope names the action or one of its ancestors (or is open).
struct PolicyIndex: Sendable {
  private enum PrincipalKey: Hashable, Sendable {
    case entity(EntityUID)
    case type(String)
    case any
  }

  private enum ActionKey: Hashable, Sendable {
    case entity(EntityUID)
    case any
  }

  private var index: [PrincipalKey: [ActionKey: [Int]]] = [:]

  init(_ policies: [Policy]) {
    for (i, policy) in policies.enumerated() {
      let principal: PrincipalKey
      switch policy.principal {
      case .any: principal = .any
      case let .equal(uid), let .in(uid), let .isIn(_, uid): principal = .entity(uid)
      case let .is(type): principal = .type(type)
      }
      let actions: [ActionKey]
      switch policy.action {
      case .any: actions = [.any]
      case let .equal(uid): actions = [.entity(uid)]
      case let .in(list): actions = Array(Set(list)).map { .entity($0) }
      }
      for action in actions { index[principal, default: [:]][action, default: []].append(i) }
    }
  }

  /// Indexes of the policies whose scopes may match, ascending (the set's order), each once.
  func candidates(for request: Request, entities: EntityStore) -> [Int] {
    var result: [Int] = []
    let principalAncestors = entities.ancestors(of: request.principal)
    let actionAncestors = entities.ancestors(of: request.action)
    func collect(_ byAction: [ActionKey: [Int]]?) {
      guard let byAction else { return }
      if let policies = byAction[.any] { result += policies }
      if let policies = byAction[.entity(request.action)] { result += policies }
      for ancestor in actionAncestors {
        if let policies = byAction[.entity(ancestor)] { result += policies }
      }
    }
    collect(index[.any])
    collect(index[.entity(request.principal)])
    collect(index[.type(request.principal.type)])
    for ancestor in principalAncestors { collect(index[.entity(ancestor)]) }
    guard result.count > 1 else { return result }
    result.sort()
    // A policy listing an action and its ancestor in one `in [...]` is found twice.
    var kept = 1
    for i in 1..<result.count where result[i] != result[kept - 1] {
      result[kept] = result[i]
      kept += 1
    }
    result.removeLast(result.count - kept)
    return result
  }
}
