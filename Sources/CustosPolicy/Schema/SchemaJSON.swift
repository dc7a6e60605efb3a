import CustosJSON

/// Cedar's JSON schema format (https://docs.cedarpolicy.com/schema/json-schema.html), read into the same
/// resolved `Schema` as the human-readable format.
public enum SchemaJSON {
  public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
  }

  public static func parse(_ bytes: [UInt8]) throws(Invalid) -> Schema {
    let json: JSONValue
    do { json = try JSONParser.parse(bytes) } catch { throw Invalid(description: "schema: \(error)") }
    guard let namespaces = json.objectValue else { throw Invalid(description: "schema: expected an object of namespaces") }
    var entityNames: Set<String> = []
    var commonTypes: [String: (JSONValue, String)] = [:]
    for (namespace, body) in namespaces {
      guard let body = body.objectValue else { throw Invalid(description: "namespace \"\(namespace)\": expected an object") }
      for name in (body["entityTypes"]?.objectValue ?? [:]).keys { entityNames.insert(qualify(name, namespace)) }
      for (name, type) in body["commonTypes"]?.objectValue ?? [:] { commonTypes[qualify(name, namespace)] = (type, namespace) }
    }
    var resolver = Resolver(entityNames: entityNames, commonTypes: commonTypes)
    var schema = Schema()
    for (namespace, body) in namespaces {
      let body = body.objectValue!
      for (name, declaration) in body["entityTypes"]?.objectValue ?? [:] {
        let path = "entityTypes.\(name)"
        guard let declaration = declaration.objectValue else { throw Invalid(description: "\(path): expected an object") }
        var attributes: [String: Schema.Attribute] = [:]
        if let shape = declaration["shape"] {
          guard case let .record(members) = try resolver.type(shape, namespace, at: "\(path).shape") else {
            throw Invalid(description: "\(path).shape: must be a Record")
          }
          attributes = members
        }
        let memberOf = try strings(declaration["memberOfTypes"], at: "\(path).memberOfTypes").map { resolver.entityName($0, namespace) }
        let tags = try declaration["tags"].map { (tags) throws(Invalid) in try resolver.type(tags, namespace, at: "\(path).tags") }
        let enumerated = try declaration["enum"].map { (values) throws(Invalid) in try strings(values, at: "\(path).enum") }
        let full = qualify(name, namespace)
        schema.entityTypes[full] = Schema.EntityType(name: full, memberOf: memberOf, attributes: attributes, tags: tags, enumeratedIDs: enumerated)
      }
      let actionType = namespace.isEmpty ? "Action" : "\(namespace)::Action"
      for (name, declaration) in body["actions"]?.objectValue ?? [:] {
        let path = "actions.\(name)"
        guard let declaration = declaration.objectValue else { throw Invalid(description: "\(path): expected an object") }
        var memberOf: [EntityUID] = []
        if case let .array(parents)? = declaration["memberOf"] {
          for parent in parents {
            guard let object = parent.objectValue, let id = object["id"]?.stringValue else { throw Invalid(description: "\(path).memberOf: expected {\"id\": ...}") }
            memberOf.append(EntityUID(type: object["type"]?.stringValue ?? actionType, id: id))
          }
        }
        var principals: [String] = [], resources: [String] = []
        var context: [String: Schema.Attribute] = [:]
        if let appliesTo = declaration["appliesTo"]?.objectValue {
          principals = try strings(appliesTo["principalTypes"], at: "\(path).appliesTo.principalTypes").map { resolver.entityName($0, namespace) }
          resources = try strings(appliesTo["resourceTypes"], at: "\(path).appliesTo.resourceTypes").map { resolver.entityName($0, namespace) }
          if let contextJSON = appliesTo["context"] {
            guard case let .record(members) = try resolver.type(contextJSON, namespace, at: "\(path).appliesTo.context") else {
              throw Invalid(description: "\(path).appliesTo.context: must be a Record")
            }
            context = members
          }
        }
        let uid = EntityUID(type: actionType, id: name)
        schema.actions[uid] = Schema.Action(uid: uid, memberOf: memberOf, principals: principals, resources: resources, context: context)
      }
    }
    return schema
  }

  static func qualify(_ name: String, _ namespace: String) -> String { namespace.isEmpty ? name : "\(namespace)::\(name)" }

  static func strings(_ json: JSONValue?, at path: String) throws(Invalid) -> [String] {
    guard let json else { return [] }
    guard case let .array(items) = json else { throw Invalid(description: "\(path): expected an array of strings") }
    var result: [String] = []
    for item in items {
      guard let text = item.stringValue else { throw Invalid(description: "\(path): expected an array of strings") }
      result.append(text)
    }
    return result
  }

  private struct Resolver {
    let entityNames: Set<String>
    let commonTypes: [String: (JSONValue, String)]
    var depth = 0

    func entityName(_ name: String, _ namespace: String) -> String {
      if !namespace.isEmpty, !name.contains("::"), entityNames.contains("\(namespace)::\(name)") { return "\(namespace)::\(name)" }
      return name
    }

    mutating func type(_ json: JSONValue, _ namespace: String, at path: String) throws(Invalid) -> Schema.AttributeType {
      guard let object = json.objectValue, let kind = object["type"]?.stringValue else {
        throw Invalid(description: "\(path): expected {\"type\": ...}")
      }
      switch kind {
      case "Long": return .long
      case "String": return .string
      case "Boolean": return .bool
      case "Set":
        guard let element = object["element"] else { throw Invalid(description: "\(path): Set needs \"element\"") }
        return .set(try type(element, namespace, at: "\(path).element"))
      case "Record":
        var attributes: [String: Schema.Attribute] = [:]
        for (name, attribute) in object["attributes"]?.objectValue ?? [:] {
          let required: Bool
          if case let .bool(flag)? = attribute.objectValue?["required"] { required = flag } else { required = true }
          attributes[name] = Schema.Attribute(type: try type(attribute, namespace, at: "\(path).\(name)"), required: required)
        }
        return .record(attributes)
      case "Entity":
        guard let name = object["name"]?.stringValue else { throw Invalid(description: "\(path): Entity needs \"name\"") }
        return .entity(entityName(name, namespace))
      case "Extension":
        guard let name = object["name"]?.stringValue, ["ipaddr", "decimal", "datetime", "duration"].contains(name) else {
          throw Invalid(description: "\(path): unknown extension type")
        }
        return .extension(name)
      case "EntityOrCommon":
        guard let name = object["name"]?.stringValue else { throw Invalid(description: "\(path): EntityOrCommon needs \"name\"") }
        return try named(name, namespace, at: path)
      default:
        return try named(kind, namespace, at: path)
      }
    }

    /// A common type, an entity type or a built-in, looked up in `namespace` first.
    mutating func named(_ name: String, _ namespace: String, at path: String) throws(Invalid) -> Schema.AttributeType {
      let candidates = namespace.isEmpty || name.contains("::") ? [name] : ["\(namespace)::\(name)", name]
      for candidate in candidates {
        if let (json, ns) = commonTypes[candidate] {
          guard depth < 32 else { throw Invalid(description: "\(path): common type \(name) refers to itself") }
          depth += 1
          defer { depth -= 1 }
          return try type(json, ns, at: path)
        }
        if entityNames.contains(candidate) { return .entity(candidate) }
      }
      switch name.hasPrefix("__cedar::") ? String(name.dropFirst(9)) : name {
      case "Long": return .long
      case "String": return .string
      case "Bool", "Boolean": return .bool
      case let ext where ["ipaddr", "decimal", "datetime", "duration"].contains(ext): return .extension(ext)
      default: throw Invalid(description: "\(path): unknown type \(name)")
      }
    }
  }
}
