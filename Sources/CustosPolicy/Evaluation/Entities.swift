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
/// is a set lookup during evaluation. Request-scoped entities are laid over it without copying it.
public struct EntityStore: Sendable {
  /// The loaded entities and their precomputed ancestors, shared by every overlay.
  private final class Base: Sendable {
    let entities: [EntityUID: Entity]
    let ancestors: [EntityUID: Set<EntityUID>]
    /// The inverse of `ancestors`: which entities sit below each one.
    let descendants: [EntityUID: [EntityUID]]

    init(_ entities: [EntityUID: Entity]) {
      self.entities = entities
      ancestors = EntityStore.closure(of: entities.keys, parents: { entities[$0]?.parents })
      var below: [EntityUID: [EntityUID]] = [:]
      for (uid, above) in ancestors { for ancestor in above { below[ancestor, default: []].append(uid) } }
      descendants = below
    }
  }

  private let base: Base
  /// Request-scoped entities replacing or adding to the base ones (usually none).
  private let overrides: [EntityUID: Entity]
  /// Ancestors in the merged view of every entity whose ancestry the overrides change.
  private let overlaidAncestors: [EntityUID: Set<EntityUID>]

  public init(_ entities: [Entity]) {
    var byUID: [EntityUID: Entity] = [:]
    for entity in entities { byUID[entity.uid] = entity }
    base = Base(byUID)
    overrides = [:]
    overlaidAncestors = [:]
  }

  private init(base: Base, overrides: [EntityUID: Entity], overlaidAncestors: [EntityUID: Set<EntityUID>]) {
    self.base = base
    self.overrides = overrides
    self.overlaidAncestors = overlaidAncestors
  }

  /// The number of loaded entities (request-scoped ones not counted).
  public var count: Int { base.entities.count }

  /// Identifies the loaded entities this store and every overlay of it share.
  var baseIdentity: ObjectIdentifier { ObjectIdentifier(base) }

  /// The loaded entities' uids (request-scoped ones not included).
  var loadedUIDs: Dictionary<EntityUID, Entity>.Keys { base.entities.keys }

  /// True when request-scoped entities change `uid` or its ancestry in this store.
  func isOverlaid(_ uid: EntityUID) -> Bool { !overlaidAncestors.isEmpty && overlaidAncestors[uid] != nil }

  public subscript(uid: EntityUID) -> Entity? { overrides[uid] ?? base.entities[uid] }

  /// Every transitive parent of `uid` (empty for unknown entities).
  public func ancestors(of uid: EntityUID) -> Set<EntityUID> {
    overlaidAncestors[uid] ?? base.ancestors[uid] ?? []
  }

  /// True when `uid` is `ancestor` or one of its transitive parents is.
  public func isDescendant(_ uid: EntityUID, of ancestor: EntityUID) -> Bool {
    uid == ancestor || ancestors(of: uid).contains(ancestor)
  }

  /// This store with `overrides` replacing or adding entities (request-scoped entities). Costs in
  /// proportion to the overrides and the entities below them, not to the whole store.
  public func merging(_ extra: [Entity]) -> EntityStore {
    guard !extra.isEmpty else { return self }
    var merged = overrides
    for entity in extra { merged[entity.uid] = entity }
    // Entities whose ancestry can change: the overridden ones and every base entity that has one of
    // them among its ancestors.
    var affected = Set(merged.keys)
    for uid in merged.keys { affected.formUnion(base.descendants[uid] ?? []) }
    let base = self.base
    let closure = EntityStore.closure(of: affected, parents: { merged[$0]?.parents ?? base.entities[$0]?.parents })
    return EntityStore(base: base, overrides: merged, overlaidAncestors: closure)
  }

  /// Transitive parents of each of `uids`, following `parents` (cycles are cut).
  private static func closure(of uids: some Sequence<EntityUID>, parents: (EntityUID) -> Set<EntityUID>?) -> [EntityUID: Set<EntityUID>] {
    var closure: [EntityUID: Set<EntityUID>] = [:]
    func visit(_ uid: EntityUID, _ path: inout Set<EntityUID>) -> Set<EntityUID> {
      if let known = closure[uid] { return known }
      guard let direct = parents(uid), path.insert(uid).inserted else { return [] }
      var result = direct
      for parent in direct { result.formUnion(visit(parent, &path)) }
      path.remove(uid)
      closure[uid] = result
      return result
    }
    for uid in uids {
      var path: Set<EntityUID> = []
      _ = visit(uid, &path)
    }
    return closure
  }
}
