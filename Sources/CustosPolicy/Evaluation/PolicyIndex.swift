/// Policies indexed by what their scopes pin, so a request evaluates only the policies that can apply
/// to it: those whose principal scope names the principal, one of its ancestors or its type (or is
/// open), whose action scope names the action or one of its ancestors (or is open), and whose resource
/// scope does the same for the resource.
///
/// Scope keys are numbered (symbols), and `prepare(for:)` resolves every loaded entity once to the
/// symbols that can match it, so a request costs three lookups and a few integer probes whether the
/// set holds ten policies or thousands.
struct PolicyIndex: Sendable {
  private enum EntityKey: Hashable, Sendable {
    case entity(EntityUID)
    case type(String)

    init?(_ constraint: Policy.EntityConstraint) {
      switch constraint {
      case .any: return nil
      case let .equal(uid), let .in(uid), let .isIn(_, uid): self = .entity(uid)
      case let .is(type): self = .type(type)
      }
    }
  }

  /// A scope key's number; 0 stands for an open scope.
  typealias Symbol = Int32

  /// What one entity can match, in each of the three scopes (symbols of keys some policy uses).
  struct EntitySymbols: Sendable {
    var principal: [Symbol] = []
    var action: [Symbol] = []
    var resource: [Symbol] = []
  }

  /// The entity symbols of every entity of one store, computed once per policy set.
  struct Prepared: Sendable {
    let store: ObjectIdentifier
    let symbols: [EntityUID: EntitySymbols]
  }

  private var principalSymbols: [EntityKey: Symbol] = [:]
  private var actionSymbols: [EntityUID: Symbol] = [:]
  private var resourceSymbols: [EntityKey: Symbol] = [:]
  /// principal symbol → action symbol → resource symbol → policy indexes (ascending).
  private var table: [Symbol: [Symbol: [Symbol: [Int]]]] = [:]

  init(_ policies: [Policy]) {
    func symbol<Key: Hashable>(_ key: Key?, in symbols: inout [Key: Symbol]) -> Symbol {
      guard let key else { return 0 }
      if let known = symbols[key] { return known }
      let next = Symbol(symbols.count + 1)
      symbols[key] = next
      return next
    }
    for (i, policy) in policies.enumerated() {
      let principal = symbol(EntityKey(policy.principal), in: &principalSymbols)
      let resource = symbol(EntityKey(policy.resource), in: &resourceSymbols)
      let actions: [Symbol]
      switch policy.action {
      case .any: actions = [0]
      case let .equal(uid): actions = [symbol(uid, in: &actionSymbols)]
      case let .in(list): actions = Set(list).map { symbol($0, in: &actionSymbols) }
      }
      for action in Set(actions) { table[principal, default: [:]][action, default: [:]][resource, default: []].append(i) }
    }
  }

  /// Resolves every loaded entity of `store` to its symbols (only the non-empty ones are kept).
  func prepare(for store: EntityStore) -> Prepared {
    var symbols: [EntityUID: EntitySymbols] = [:]
    for uid in store.loadedUIDs {
      let resolved = resolve(uid, store)
      if !(resolved.principal.isEmpty && resolved.action.isEmpty && resolved.resource.isEmpty) { symbols[uid] = resolved }
    }
    return Prepared(store: store.baseIdentity, symbols: symbols)
  }

  private func resolve(_ uid: EntityUID, _ entities: EntityStore) -> EntitySymbols {
    var result = EntitySymbols()
    let ancestors = entities.ancestors(of: uid)
    for key in [EntityKey.entity(uid), .type(uid.type)] + ancestors.map({ .entity($0) }) {
      if let symbol = principalSymbols[key] { result.principal.append(symbol) }
      if let symbol = resourceSymbols[key] { result.resource.append(symbol) }
    }
    for action in [uid] + ancestors {
      if let symbol = actionSymbols[action] { result.action.append(symbol) }
    }
    return result
  }

  /// Indexes of the policies whose scopes may match, ascending (the set's order), each once.
  func candidates(for request: Request, entities: EntityStore, prepared: Prepared? = nil) -> [Int] {
    let cache = prepared?.store == entities.baseIdentity ? prepared : nil
    func symbols(_ uid: EntityUID) -> EntitySymbols {
      // A loaded entity the overlay leaves alone has its symbols ready (kept only when it has some).
      if let cache, !entities.isOverlaid(uid) {
        if let ready = cache.symbols[uid] { return ready }
        if entities[uid] != nil { return EntitySymbols() }
      }
      return resolve(uid, entities)
    }
    var result: [Int] = []
    let principal = symbols(request.principal)
    var action: EntitySymbols?
    var resource: EntitySymbols?
    for p in [0] + principal.principal {
      guard let byAction = table[p] else { continue }
      if action == nil { action = symbols(request.action) }
      for a in [0] + action!.action {
        guard let byResource = byAction[a] else { continue }
        if resource == nil { resource = symbols(request.resource) }
        for r in [0] + resource!.resource {
          if let policies = byResource[r] { result += policies }
        }
      }
    }
    guard result.count > 1 else { return result }
    result.sort()
    // A policy whose scope keys match the request in two ways (an action and its ancestor listed in
    // one `in [...]`, a principal equal to and in the same entity) is found twice.
    var kept = 1
    for i in 1..<result.count where result[i] != result[kept - 1] {
      result[kept] = result[i]
      kept += 1
    }
    result.removeLast(result.count - kept)
    return result
  }
}
