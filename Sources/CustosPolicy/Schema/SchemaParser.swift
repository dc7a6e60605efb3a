/// Parses Cedar's human-readable schema format (`.cedarschema`,
/// https://docs.cedarpolicy.com/schema/human-readable-schema-grammar.html) into a resolved `Schema`.
public enum SchemaParser {
  public static func parse(_ text: String, file: String? = nil) throws(PolicyParseError) -> Schema {
    do {
      var parser = SchemaSyntax(tokens: try Lexer.tokenize(text))
      try parser.schema()
      return try parser.resolve()
    } catch {
      var located = error
      located.file = file
      throw located
    }
  }
}

private struct SchemaSyntax {
  /// A type as written, before names are resolved.
  indirect enum Written {
    case name(String, SourceLocation)
    case set(Written)
    case record([String: (Written, Bool)])
  }

  struct EntityDecl {
    var name: String
    var memberOf: [String]
    var attributes: Written?
    var tags: Written?
    var enumerated: [String]?
    var namespace: String
    var location: SourceLocation
  }

  struct ActionDecl {
    var uid: EntityUID
    var memberOf: [EntityUID]
    var principals: [String]
    var resources: [String]
    var context: Written?
    var namespace: String
  }

  let tokens: [Token]
  var position = 0
  var entities: [EntityDecl] = []
  var actions: [ActionDecl] = []
  var commonTypes: [String: (Written, String)] = [:]
  var namespace = ""
  /// Levels of the type being parsed.
  var typeDepth = 0
  static let maximumTypeDepth = 64

  init(tokens: [Token]) { self.tokens = tokens }

  var current: Token { tokens[position] }

  func fail(_ message: String, _ at: SourceLocation? = nil) -> PolicyParseError {
    PolicyParseError(location: at ?? current.location, message: message)
  }

  mutating func advance() -> Token {
    let token = tokens[position]
    if position < tokens.count - 1 { position += 1 }
    return token
  }

  mutating func accept(_ symbol: Token.Symbol) -> Bool {
    guard current.kind == .symbol(symbol) else { return false }
    _ = advance()
    return true
  }

  mutating func expect(_ symbol: Token.Symbol, _ context: String) throws(PolicyParseError) {
    guard accept(symbol) else { throw fail("expected '\(symbol.rawValue)' \(context)") }
  }

  func isWord(_ word: String) -> Bool { current.kind == .identifier(word) }

  mutating func identifier(_ context: String) throws(PolicyParseError) -> String {
    guard case let .identifier(name) = current.kind else { throw fail("expected a name \(context)") }
    _ = advance()
    return name
  }

  mutating func name(_ context: String) throws(PolicyParseError) -> String {
    if case let .string(raw) = current.kind {
      let token = advance()
      return try Lexer.unescapedText(raw, location: token.location)
    }
    return try identifier(context)
  }

  mutating func path(_ context: String) throws(PolicyParseError) -> String {
    var components = [try identifier(context)]
    while current.kind == .symbol(.doubleColon), case .identifier = tokens[position + 1].kind {
      _ = advance()
      components.append(try identifier(context))
    }
    return components.joined(separator: "::")
  }

  mutating func annotations() throws(PolicyParseError) {
    while accept(.at) {
      _ = try identifier("after '@'")
      if accept(.leftParen) {
        _ = try name("as the annotation value")
        try expect(.rightParen, "after the annotation value")
      }
    }
  }

  mutating func schema() throws(PolicyParseError) {
    while current.kind != .end {
      try annotations()
      if isWord("namespace") {
        _ = advance()
        namespace = try path("after 'namespace'")
        try expect(.leftBrace, "to open the namespace")
        while !accept(.rightBrace) {
          guard current.kind != .end else { throw fail("unterminated namespace \(namespace)") }
          try annotations()
          try declaration()
        }
        namespace = ""
      } else {
        try declaration()
      }
    }
  }

  mutating func declaration() throws(PolicyParseError) {
    let location = current.location
    if isWord("entity") {
      _ = advance()
      var names = [try identifier("after 'entity'")]
      while accept(.comma) { names.append(try identifier("in the entity list")) }
      var declaration = EntityDecl(name: "", memberOf: [], attributes: nil, tags: nil, enumerated: nil, namespace: namespace, location: location)
      if isWord("enum") {
        _ = advance()
        try expect(.leftBracket, "after 'enum'")
        var ids: [String] = []
        repeat { ids.append(try name("in the enum list")) } while accept(.comma) && current.kind != .symbol(.rightBracket)
        try expect(.rightBracket, "to close the enum list")
        declaration.enumerated = ids
      } else {
        if isWord("in") {
          _ = advance()
          declaration.memberOf = try typeList()
        }
        if accept(.assign) || current.kind == .symbol(.leftBrace) { declaration.attributes = try recordType() }
        if isWord("tags") {
          _ = advance()
          declaration.tags = try type()
        }
      }
      try expect(.semicolon, "after the entity declaration")
      for name in names {
        var copy = declaration
        copy.name = name
        entities.append(copy)
      }
    } else if isWord("action") {
      _ = advance()
      var names = [try name("after 'action'")]
      while accept(.comma) { names.append(try name("in the action list")) }
      var memberOf: [EntityUID] = []
      if isWord("in") {
        _ = advance()
        memberOf = try actionRefs()
      }
      var principals: [String] = [], resources: [String] = []
      var context: Written?
      if isWord("appliesTo") {
        _ = advance()
        try expect(.leftBrace, "after 'appliesTo'")
        while !accept(.rightBrace) {
          let field = try identifier("in appliesTo")
          try expect(.colon, "after \(field)")
          switch field {
          case "principal": principals = try typeList()
          case "resource": resources = try typeList()
          case "context": context = try type()
          default: throw fail("unknown appliesTo field \(field)")
          }
          guard accept(.comma) || current.kind == .symbol(.rightBrace) else { throw fail("expected ',' or '}' in appliesTo") }
        }
      }
      try expect(.semicolon, "after the action declaration")
      let actionType = namespace.isEmpty ? "Action" : "\(namespace)::Action"
      for name in names {
        actions.append(ActionDecl(
          uid: EntityUID(type: actionType, id: name), memberOf: memberOf, principals: principals, resources: resources,
          context: context, namespace: namespace))
      }
    } else if isWord("type") {
      _ = advance()
      let name = try identifier("after 'type'")
      try expect(.assign, "after the type name")
      commonTypes[qualify(name)] = (try type(), namespace)
      try expect(.semicolon, "after the type declaration")
    } else {
      throw fail("expected 'entity', 'action', 'type' or 'namespace'")
    }
  }

  func qualify(_ name: String) -> String { namespace.isEmpty ? name : "\(namespace)::\(name)" }

  mutating func typeList() throws(PolicyParseError) -> [String] {
    if accept(.leftBracket) {
      var list: [String] = []
      if accept(.rightBracket) { return list }
      repeat { list.append(try path("in a type list")) } while accept(.comma) && current.kind != .symbol(.rightBracket)
      try expect(.rightBracket, "to close the type list")
      return list
    }
    return [try path("as a type")]
  }

  mutating func actionRefs() throws(PolicyParseError) -> [EntityUID] {
    func one(_ parser: inout SchemaSyntax) throws(PolicyParseError) -> EntityUID {
      if case .string = parser.current.kind {
        return EntityUID(type: parser.namespace.isEmpty ? "Action" : "\(parser.namespace)::Action", id: try parser.name(""))
      }
      var components = [try parser.identifier("in an action reference")]
      while parser.accept(.doubleColon) {
        if case .string = parser.current.kind { return EntityUID(type: components.joined(separator: "::"), id: try parser.name("")) }
        components.append(try parser.identifier("in an action reference"))
      }
      return EntityUID(type: parser.namespace.isEmpty ? "Action" : "\(parser.namespace)::Action", id: components.joined(separator: "::"))
    }
    if accept(.leftBracket) {
      var list: [EntityUID] = []
      if accept(.rightBracket) { return list }
      repeat { list.append(try one(&self)) } while accept(.comma) && current.kind != .symbol(.rightBracket)
      try expect(.rightBracket, "to close the action list")
      return list
    }
    return [try one(&self)]
  }

  mutating func type() throws(PolicyParseError) -> Written {
    // Set<...> and records nest by recursion here and when the types are resolved: bounded like JSON.
    typeDepth += 1
    defer { typeDepth -= 1 }
    guard typeDepth <= Self.maximumTypeDepth else { throw fail("type nested deeper than \(Self.maximumTypeDepth) levels") }
    if current.kind == .symbol(.leftBrace) { return try recordType() }
    let location = current.location
    let name = try path("as a type")
    if name == "Set" {
      try expect(.less, "after Set")
      let element = try type()
      try expect(.greater, "to close Set<...>")
      return .set(element)
    }
    return .name(name, location)
  }

  mutating func recordType() throws(PolicyParseError) -> Written {
    try expect(.leftBrace, "to open a record type")
    var attributes: [String: (Written, Bool)] = [:]
    while !accept(.rightBrace) {
      try annotations()
      let location = current.location
      let attribute = try name("as an attribute name")
      let required = !accept(.question)
      try expect(.colon, "after the attribute name")
      guard attributes[attribute] == nil else { throw fail("duplicate attribute \(attribute)", location) }
      attributes[attribute] = (try type(), required)
      guard accept(.comma) || current.kind == .symbol(.rightBrace) else { throw fail("expected ',' or '}' in a record type") }
    }
    return .record(attributes)
  }

  // MARK: Resolution

  func resolve() throws(PolicyParseError) -> Schema {
    var schema = Schema()
    let entityNames = Set(entities.map { $0.namespace.isEmpty ? $0.name : "\($0.namespace)::\($0.name)" })
    func resolveName(_ name: String, _ namespace: String, _ location: SourceLocation, depth: Int) throws(PolicyParseError) -> Schema.AttributeType {
      guard depth < 32 else { throw PolicyParseError(location: location, message: "common type \(name) refers to itself") }
      let bare = name.hasPrefix("__cedar::") ? String(name.dropFirst("__cedar::".count)) : nil
      let candidates = namespace.isEmpty || name.contains("::") ? [name] : ["\(namespace)::\(name)", name]
      if bare == nil {
        for candidate in candidates {
          if let (written, ns) = commonTypes[candidate] { return try resolveWritten(written, ns, depth: depth + 1) }
          if entityNames.contains(candidate) { return .entity(candidate) }
        }
      }
      switch bare ?? name {
      case "Long": return .long
      case "String": return .string
      case "Bool": return .bool
      case "ipaddr", "decimal", "datetime", "duration": return .extension(bare ?? name)
      default:
        throw PolicyParseError(location: location, message: "unknown type \(name)")
      }
    }
    func resolveWritten(_ written: Written, _ namespace: String, depth: Int = 0) throws(PolicyParseError) -> Schema.AttributeType {
      switch written {
      case let .name(name, location): return try resolveName(name, namespace, location, depth: depth)
      case let .set(element): return .set(try resolveWritten(element, namespace, depth: depth))
      case let .record(members):
        var attributes: [String: Schema.Attribute] = [:]
        for (name, (type, required)) in members { attributes[name] = Schema.Attribute(type: try resolveWritten(type, namespace, depth: depth), required: required) }
        return .record(attributes)
      }
    }
    func entityName(_ name: String, _ namespace: String) -> String {
      if !namespace.isEmpty, !name.contains("::"), entityNames.contains("\(namespace)::\(name)") { return "\(namespace)::\(name)" }
      return name
    }
    for declaration in entities {
      let full = declaration.namespace.isEmpty ? declaration.name : "\(declaration.namespace)::\(declaration.name)"
      var attributes: [String: Schema.Attribute] = [:]
      if let written = declaration.attributes, case let .record(members) = try resolveWritten(written, declaration.namespace) { attributes = members }
      schema.entityTypes[full] = Schema.EntityType(
        name: full, memberOf: declaration.memberOf.map { entityName($0, declaration.namespace) }, attributes: attributes,
        tags: try declaration.tags.map { (written) throws(PolicyParseError) in try resolveWritten(written, declaration.namespace) },
        enumeratedIDs: declaration.enumerated)
    }
    for declaration in actions {
      var context: [String: Schema.Attribute] = [:]
      if let written = declaration.context, case let .record(members) = try resolveWritten(written, declaration.namespace) { context = members }
      schema.actions[declaration.uid] = Schema.Action(
        uid: declaration.uid, memberOf: declaration.memberOf,
        principals: declaration.principals.map { entityName($0, declaration.namespace) },
        resources: declaration.resources.map { entityName($0, declaration.namespace) }, context: context)
    }
    return schema
  }
}
