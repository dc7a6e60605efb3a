import CustosJSON

/// Cedar's JSON formats for entities, entity references and values
/// (https://docs.cedarpolicy.com/auth/entities-syntax.html), without a schema.
public enum EntityJSON {
  public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
  }

  /// Parses an entities file: an array of `{"uid", "attrs", "parents", "tags"}` objects. With a schema,
  /// attribute and tag values are read as their declared types (so `{"type": T, "id": I}` is an entity
  /// reference where the schema says so, and a string is an extension value where it says `ipaddr`...).
  public static func entities(_ bytes: [UInt8], schema: Schema? = nil) throws(Invalid) -> [Entity] {
    let json: JSONValue
    do { json = try JSONParser.parse(bytes) } catch { throw Invalid(description: "entities: \(error)") }
    return try entities(json, schema: schema)
  }

  /// Entities from already parsed JSON.
  public static func entities(_ json: JSONValue, schema: Schema? = nil) throws(Invalid) -> [Entity] {
    guard case let .array(items) = json else { throw Invalid(description: "entities: expected a JSON array") }
    var result: [Entity] = []
    for (i, item) in items.enumerated() {
      guard let object = item.objectValue else { throw Invalid(description: "entities[\(i)]: expected an object") }
      guard let uidJSON = object["uid"] else { throw Invalid(description: "entities[\(i)]: missing \"uid\"") }
      let uid = try entityUID(uidJSON, at: "entities[\(i)].uid")
      let declared = schema?.entityTypes[uid.type]
      var attributes: [String: Value] = [:]
      if let attrs = object["attrs"] {
        guard let members = attrs.objectValue else { throw Invalid(description: "entities[\(i)].attrs: expected an object") }
        for (name, value) in members {
          attributes[name] = try self.value(value, expected: declared?.attributes[name]?.type, at: "entities[\(i)].attrs.\(name)")
        }
      }
      var parents: Set<EntityUID> = []
      if let parentsJSON = object["parents"] {
        guard case let .array(list) = parentsJSON else { throw Invalid(description: "entities[\(i)].parents: expected an array") }
        for (j, parent) in list.enumerated() { parents.insert(try entityUID(parent, at: "entities[\(i)].parents[\(j)]")) }
      }
      var tags: [String: Value] = [:]
      if let tagsJSON = object["tags"] {
        guard let members = tagsJSON.objectValue else { throw Invalid(description: "entities[\(i)].tags: expected an object") }
        for (name, value) in members { tags[name] = try self.value(value, expected: declared?.tags, at: "entities[\(i)].tags.\(name)") }
      }
      result.append(Entity(uid: uid, attributes: attributes, parents: parents, tags: tags))
    }
    return result
  }

  /// `{"type": T, "id": I}` or `{"__entity": {"type": T, "id": I}}`.
  public static func entityUID(_ json: JSONValue, at path: String) throws(Invalid) -> EntityUID {
    guard var object = json.objectValue else { throw Invalid(description: "\(path): expected an entity reference object") }
    if let inner = object["__entity"]?.objectValue, object.count == 1 { object = inner }
    guard let type = object["type"]?.stringValue, let id = object["id"]?.stringValue else {
      throw Invalid(description: "\(path): expected {\"type\": ..., \"id\": ...}")
    }
    return EntityUID(type: type, id: id)
  }

  /// An attribute or context value: booleans, integers, strings, arrays (sets), objects (records), and
  /// the escapes `{"__entity": ...}` and `{"__extn": {"fn": ..., "arg": ...}}`.
  public static func value(_ json: JSONValue, at path: String) throws(Invalid) -> Value {
    try value(json, expected: nil, at: path)
  }

  /// A value read as the schema type `expected` when one is known.
  public static func value(_ json: JSONValue, expected: Schema.AttributeType?, at path: String) throws(Invalid) -> Value {
    switch (expected, json) {
    case let (.entity?, .object(members)) where members["type"] != nil && members["id"] != nil && members.count == 2:
      return .entity(try entityUID(json, at: path))
    case let (.extension(name)?, .string(text)):
      do { return try Extensions.call(name == "ipaddr" ? "ip" : name, [.string(text)]) } catch { throw Invalid(description: "\(path): \(error)") }
    case let (.set(element)?, .array(items)):
      var set = Set<Value>()
      for (i, item) in items.enumerated() { set.insert(try value(item, expected: element, at: "\(path)[\(i)]")) }
      return .set(set)
    case let (.record(fields)?, .object(members)) where members["__entity"] == nil && members["__extn"] == nil:
      var record: [String: Value] = [:]
      for (name, member) in members { record[name] = try value(member, expected: fields[name]?.type, at: "\(path).\(name)") }
      return .record(record)
    default:
      break
    }
    switch json {
    case .null: throw Invalid(description: "\(path): null is not a Cedar value")
    case let .bool(b): return .bool(b)
    case let .integer(n): return .long(n)
    case let .string(s): return .string(s)
    case let .array(items):
      var set = Set<Value>()
      for (i, item) in items.enumerated() { set.insert(try value(item, expected: nil, at: "\(path)[\(i)]")) }
      return .set(set)
    case let .object(members):
      if members.count == 1, members["__entity"] != nil { return .entity(try entityUID(json, at: path)) }
      if members.count == 1, let extn = members["__extn"]?.objectValue {
        // {"fn": constructor, "arg": x} or {"fn": name, "args": [receiver, ...]} for a method such as offset.
        guard let fn = extn["fn"]?.stringValue else { throw Invalid(description: "\(path): __extn needs fn") }
        var arguments: [Value] = []
        if let arg = extn["arg"] {
          arguments = [try value(arg, at: path)]
        } else if case let .array(items)? = extn["args"] {
          for item in items { arguments.append(try value(item, at: path)) }
        } else {
          throw Invalid(description: "\(path): __extn needs arg or args")
        }
        do {
          if Extensions.constructors.contains(fn) { return try Extensions.call(fn, arguments) }
          guard let receiver = arguments.first else { throw Invalid(description: "\(path): __extn method \(fn) needs a receiver") }
          return try Extensions.method(fn, receiver, Array(arguments.dropFirst()), entities: EntityStore([]))
        } catch let error as Invalid {
          throw error
        } catch {
          throw Invalid(description: "\(path): \(error)")
        }
      }
      var record: [String: Value] = [:]
      for (name, member) in members { record[name] = try value(member, at: "\(path).\(name)") }
      return .record(record)
    }
  }
}
