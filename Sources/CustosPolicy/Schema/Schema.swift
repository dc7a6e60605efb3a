/// A Cedar schema: entity types with their attributes, parents and tags, actions with what they apply
/// to, and named common types. Names are fully qualified (`Namespace::Name`).
public struct Schema: Sendable {
  public indirect enum AttributeType: Sendable, Equatable {
    case long, string, bool
    case set(AttributeType)
    case record([String: Attribute])
    case entity(String)
    /// `ipaddr`, `decimal`, `datetime` or `duration`.
    case `extension`(String)
  }

  public struct Attribute: Sendable, Equatable {
    public var type: AttributeType
    public var required: Bool
  }

  public struct EntityType: Sendable, Equatable {
    public var name: String
    public var memberOf: [String]
    public var attributes: [String: Attribute]
    public var tags: AttributeType?
    /// For enumerated entity types: the only ids that exist.
    public var enumeratedIDs: [String]?
  }

  public struct Action: Sendable, Equatable {
    public var uid: EntityUID
    public var memberOf: [EntityUID]
    public var principals: [String]
    public var resources: [String]
    public var context: [String: Attribute]
  }

  public var entityTypes: [String: EntityType] = [:]
  public var actions: [EntityUID: Action] = [:]

  public init() {}
}
