/// An entity: its attributes, tags and direct parents.
public struct Entity: Sendable, Equatable {
  public var uid: EntityUID
  public var attributes: [String: Value]
  public var parents: Set<EntityUID>
  public var tags: [String: Value]

  public init(uid: EntityUID, attributes: [String: Value] = [:], parents: Set<EntityUID> = [], tags: [String: Value] = [:]) {
    self.uid = uid
    self.attributes = attributes
    self.parents = parents
    self.tags = tags
  }
}

/// An immutable entity store with every entity's transitive ancestors computed once, at load, so `in`
/// is a set lookup during evaluation.
public struct EntityStore: Sendable {
  public let entities: [EntityUID: Entity]
  private let ancestors: [EntityUID: Set<EntityUID>]

  public init(_ entities: [Entity]) {
    var byUID: [EntityUID: Entity] = [:]
    for entity in entities { byUID[entity.uid] = entity }
    self.entities = byUID
    var closure: [EntityUID: Set<EntityUID>] = [:]
    func visit(_ uid: EntityUID, _ path: inout Set<EntityUID>) -> Set<EntityUID> {
      if let known = closure[uid] { return known }
      guard let entity = byUID[uid], path.insert(uid).inserted else { return [] }
      var result = entity.parents
      for parent in entity.parents { result.formUnion(visit(parent, &path)) }
      path.remove(uid)
      closure[uid] = result
      return result
    }
    for uid in byUID.keys {
      var path: Set<EntityUID> = []
      _ = visit(uid, &path)
    }
    ancestors = closure
  }

  public subscript(uid: EntityUID) -> Entity? { entities[uid] }

  /// Every transitive parent of `uid` (empty for unknown entities).
  public func ancestors(of uid: EntityUID) -> Set<EntityUID> { ancestors[uid] ?? [] }

  /// True when `uid` is `ancestor` or one of its transitive parents is.
  public func isDescendant(_ uid: EntityUID, of ancestor: EntityUID) -> Bool {
    uid == ancestor || ancestors[uid]?.contains(ancestor) == true
  }

  /// This store with `overrides` replacing or adding entities (request-scoped entities).
  public func merging(_ overrides: [Entity]) -> EntityStore {
    guard !overrides.isEmpty else { return self }
    var all = entities
    for entity in overrides { all[entity.uid] = entity }
    return EntityStore(Array(all.values))
  }
}
