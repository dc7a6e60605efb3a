/// Parses Cedar policy text (https://docs.cedarpolicy.com/policies/syntax-grammar.html) into `Policy`
/// values. Policy ids are `policy0`, `policy1`, ... in order of appearance, as Cedar assigns them.
public enum PolicyParser {
  /// The deepest expression accepted. Parentheses, brackets, records, `if`, calls and every link of a
  /// chain of operators (`a || b || c`, `x.a.b`) each count one level: that bounds both the parser's
  /// recursion and the height of the tree that evaluation and validation recurse over, so hostile
  /// policy text fails with an error instead of overflowing the stack. Real policies stay far below
  /// it (Cedar's own corpus nests about 13 deep).
  public static let maximumDepth = 256

  /// Parses every policy in `text`. Errors carry `file` (when given), line and column.
  public static func parse(_ text: String, file: String? = nil) throws(PolicyParseError) -> [Policy] {
    do {
      var parser = Parser(tokens: try Lexer.tokenize(text))
      return try parser.policies()
    } catch {
      var located = error
      located.file = file
      throw located
    }
  }
}

extension PolicyParser {
  /// Parses one entity reference written as in policies: `Type::"id"` (`Namespace::Type::"id"`, with the
  /// id's escapes decoded).
  public static func parseEntityUID(_ text: String) throws(PolicyParseError) -> EntityUID {
    var parser = Parser(tokens: try Lexer.tokenize(text))
    let uid = try parser.entityReference()
    guard parser.current.kind == .end else { throw parser.fail("unexpected text after the entity reference") }
    return uid
  }

  /// True when `type` is a Cedar entity type name: identifiers joined by `::`.
  public static func isValidEntityType(_ type: String) -> Bool {
    // Checked on every request: decide plain ASCII names by one scan, leave anything else to the lexer.
    asciiEntityTypeVerdict(type) ?? lexedEntityTypeVerdict(type)
  }

  /// The same decision through the Cedar lexer (the definition the fast scan is tested against).
  static func lexedEntityTypeVerdict(_ type: String) -> Bool {
    // The lexer skips whitespace and comments; a type name has neither.
    guard !type.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0 == "/" }),
      let tokens = try? Lexer.tokenize(type), tokens.count % 2 == 0
    else { return false }
    for (i, token) in tokens.dropLast().enumerated() {
      switch (i % 2, token.kind) {
      case let (0, .identifier(name)) where !reservedIdentifiers.contains(name): continue
      case (1, .symbol(.doubleColon)): continue
      default: return false
      }
    }
    return true
  }
}

extension PolicyParser {
  /// `ident ("::" ident)*` over ASCII, identifiers not reserved; nil when the text is not all ASCII.
  static func asciiEntityTypeVerdict(_ type: String) -> Bool? {
    var segmentStart = true
    var segment: [UInt8] = []
    var bytes = Array(type.utf8)
    guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
    bytes.append(0x3a)  // a sentinel colon closes the last segment
    var i = 0
    while i < bytes.count {
      let c = bytes[i]
      let letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f
      let digit = c >= 0x30 && c <= 0x39
      if letter || (digit && !segmentStart) {
        segment.append(c)
        segmentStart = false
        i += 1
        continue
      }
      guard c == 0x3a, !segmentStart, !reservedIdentifiers.contains(String(decoding: segment, as: UTF8.self)) else { return false }
      if i == bytes.count - 1 { return true }
      guard i + 1 < bytes.count - 1, bytes[i + 1] == 0x3a else { return false }
      segment.removeAll(keepingCapacity: true)
      segmentStart = true
      i += 2
    }
    return false
  }
}

/// Reserved words that may not be used as attribute names without quotes, or as identifiers.
private let reservedIdentifiers: Set<String> = ["true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"]

private struct Parser {
  let tokens: [Token]
  var position = 0
  /// Levels of the expression being parsed (see `PolicyParser.maximumDepth`).
  var depth = 0

  init(tokens: [Token]) { self.tokens = tokens }

  var current: Token { tokens[position] }

  func fail(_ message: String, at token: Token? = nil) -> PolicyParseError {
    PolicyParseError(location: (token ?? current).location, message: message)
  }

  mutating func advance() -> Token {
    let token = tokens[position]
    if position < tokens.count - 1 { position += 1 }
    return token
  }

  func isSymbol(_ symbol: Token.Symbol) -> Bool { current.kind == .symbol(symbol) }

  func isKeyword(_ word: String) -> Bool { current.kind == .identifier(word) }

  /// One level deeper; the caller gives it back when the level ends.
  mutating func descend() throws(PolicyParseError) {
    depth += 1
    guard depth <= PolicyParser.maximumDepth else {
      throw fail("expression nested deeper than \(PolicyParser.maximumDepth) levels (parentheses, brackets, records, if, calls and each chained operator count one)")
    }
  }

  mutating func accept(_ symbol: Token.Symbol) -> Bool {
    guard isSymbol(symbol) else { return false }
    _ = advance()
    return true
  }

  mutating func expect(_ symbol: Token.Symbol, _ context: String) throws(PolicyParseError) {
    guard accept(symbol) else { throw fail("expected '\(symbol.rawValue)' \(context), found \(describe(current))") }
  }

  mutating func expectKeyword(_ word: String, _ context: String) throws(PolicyParseError) {
    guard isKeyword(word) else { throw fail("expected '\(word)' \(context), found \(describe(current))") }
    _ = advance()
  }

  func describe(_ token: Token) -> String {
    switch token.kind {
    case let .identifier(name): return "'\(name)'"
    case .string: return "a string"
    case let .integer(value): return "'\(value)'"
    case let .symbol(symbol): return "'\(symbol.rawValue)'"
    case .end: return "the end of the input"
    }
  }

  mutating func identifier(_ context: String) throws(PolicyParseError) -> String {
    guard case let .identifier(name) = current.kind else { throw fail("expected an identifier \(context), found \(describe(current))") }
    _ = advance()
    return name
  }

  mutating func stringLiteral(_ context: String) throws(PolicyParseError) -> String {
    guard case let .string(raw) = current.kind else { throw fail("expected a string \(context), found \(describe(current))") }
    let token = advance()
    return try Lexer.unescapedText(raw, location: token.location)
  }

  // MARK: Policies

  mutating func policies() throws(PolicyParseError) -> [Policy] {
    var result: [Policy] = []
    while current.kind != .end {
      result.append(try policy(id: "policy\(result.count)"))
    }
    return result
  }

  mutating func policy(id: String) throws(PolicyParseError) -> Policy {
    let start = current.location
    var annotations: [(String, String)] = []
    while accept(.at) {
      let nameToken = current
      let name = try identifier("after '@'")
      guard !annotations.contains(where: { $0.0 == name }) else { throw fail("duplicate annotation @\(name)", at: nameToken) }
      var value = ""
      if accept(.leftParen) {
        value = try stringLiteral("as the annotation value")
        try expect(.rightParen, "after the annotation value")
      }
      annotations.append((name, value))
    }
    let effectToken = current
    let effectName = try identifier("(permit or forbid)")
    guard let effect = Policy.Effect(rawValue: effectName) else {
      throw fail("expected 'permit' or 'forbid', found '\(effectName)'", at: effectToken)
    }
    try expect(.leftParen, "after '\(effectName)'")
    let principal = try entityConstraint(variable: "principal")
    try expect(.comma, "after the principal constraint")
    let action = try actionConstraint()
    try expect(.comma, "after the action constraint")
    let resource = try entityConstraint(variable: "resource")
    if isSymbol(.comma) { throw fail("unexpected ',' after the resource constraint (templates and extra scope elements are not supported)") }
    try expect(.rightParen, "to close the policy scope")
    var conditions: [Policy.Condition] = []
    while case let .identifier(word) = current.kind, word == "when" || word == "unless" {
      _ = advance()
      try expect(.leftBrace, "after '\(word)'")
      if isSymbol(.rightBrace) { throw fail("empty \(word) condition") }
      let body = try expression()
      try expect(.rightBrace, "to close the \(word) condition")
      conditions.append(Policy.Condition(kind: word == "when" ? .when : .unless, body: body))
    }
    try expect(.semicolon, "at the end of the policy")
    return Policy(
      id: id, effect: effect, principal: principal, action: action, resource: resource, conditions: conditions,
      annotations: annotations, location: start)
  }

  mutating func entityConstraint(variable: String) throws(PolicyParseError) -> Policy.EntityConstraint {
    try expectKeyword(variable, "in the policy scope")
    if accept(.equal) {
      if isSymbol(.question) { throw fail("policy templates are not supported") }
      return .equal(try entityReference())
    }
    if isKeyword("is") {
      _ = advance()
      let type = try path("after 'is'")
      if isKeyword("in") {
        _ = advance()
        return .isIn(type, try entityReference())
      }
      return .is(type)
    }
    if isKeyword("in") {
      _ = advance()
      return .in(try entityReference())
    }
    return .any
  }

  mutating func actionConstraint() throws(PolicyParseError) -> Policy.ActionConstraint {
    try expectKeyword("action", "in the policy scope")
    if accept(.equal) { return .equal(try entityReference()) }
    if isKeyword("in") {
      _ = advance()
      if accept(.leftBracket) {
        var list: [EntityUID] = []
        if !isSymbol(.rightBracket) {
          repeat { list.append(try entityReference()) } while accept(.comma) && !isSymbol(.rightBracket)
        }
        try expect(.rightBracket, "to close the action list")
        return .in(list)
      }
      return .in([try entityReference()])
    }
    if isKeyword("is") { throw fail("'is' is not allowed in the action scope") }
    return .any
  }

  /// `Type::"id"` with a `::`-separated type path.
  mutating func entityReference() throws(PolicyParseError) -> EntityUID {
    let start = current
    var components = [try identifier("in an entity reference")]
    while accept(.doubleColon) {
      if case .string = current.kind {
        return EntityUID(type: components.joined(separator: "::"), id: try stringLiteral("as the entity id"))
      }
      components.append(try identifier("in an entity type"))
    }
    throw fail("expected an entity reference such as Type::\"id\"", at: start)
  }

  mutating func path(_ context: String) throws(PolicyParseError) -> String {
    var components = [try identifier(context)]
    while isSymbol(.doubleColon), case .identifier = tokens[position + 1].kind {
      _ = advance()
      components.append(try identifier(context))
    }
    return components.joined(separator: "::")
  }

  // MARK: Expressions

  mutating func expression() throws(PolicyParseError) -> Expr {
    try descend()
    defer { depth -= 1 }
    if isKeyword("if") {
      _ = advance()
      let condition = try expression()
      try expectKeyword("then", "after the if condition")
      let then = try expression()
      try expectKeyword("else", "after the then branch")
      return .ifThenElse(condition, then, try expression())
    }
    return try or()
  }

  mutating func or() throws(PolicyParseError) -> Expr {
    try leftChain(.or, { (parser: inout Parser) throws(PolicyParseError) in try parser.and() }, Expr.or)
  }

  mutating func and() throws(PolicyParseError) -> Expr {
    try leftChain(.and, { (parser: inout Parser) throws(PolicyParseError) in try parser.relation() }, Expr.and)
  }

  /// `operand (symbol operand)*`, associated to the left; each link one level deeper.
  mutating func leftChain(
    _ symbol: Token.Symbol, _ operand: (inout Parser) throws(PolicyParseError) -> Expr, _ combine: (Expr, Expr) -> Expr
  ) throws(PolicyParseError) -> Expr {
    var left = try operand(&self)
    var links = 0
    defer { depth -= links }
    while accept(symbol) {
      try descend()
      links += 1
      left = combine(left, try operand(&self))
    }
    return left
  }

  mutating func relation() throws(PolicyParseError) -> Expr {
    let left = try additive()
    let operators: [(Token.Symbol, Expr.BinaryOperator)] = [
      (.equal, .equal), (.notEqual, .notEqual), (.less, .less), (.lessEqual, .lessEqual), (.greater, .greater),
      (.greaterEqual, .greaterEqual),
    ]
    for (symbol, op) in operators where accept(symbol) { return .binary(op, left, try additive()) }
    if isKeyword("in") {
      _ = advance()
      return .binary(.in, left, try additive())
    }
    if isKeyword("has") {
      _ = advance()
      var attributes = [try attributeName()]
      while accept(.dot) { attributes.append(try attributeName()) }
      return .has(left, attributes)
    }
    if isKeyword("like") {
      _ = advance()
      guard case let .string(raw) = current.kind else { throw fail("expected a pattern string after 'like'") }
      let token = advance()
      let decoded = try Lexer.unescape(raw, location: token.location, allowStar: true)
      return .like(left, Pattern(elements: decoded.map { $0.scalar == "*" && !$0.escapedStar ? .wildcard : .literal($0.scalar) }))
    }
    if isKeyword("is") {
      _ = advance()
      let type = try path("after 'is'")
      if isKeyword("in") {
        _ = advance()
        return .is(left, type, in: try additive())
      }
      return .is(left, type, in: nil)
    }
    return left
  }

  /// An attribute after `has` or `.`: an identifier or a string.
  mutating func attributeName() throws(PolicyParseError) -> String {
    if case .string = current.kind { return try stringLiteral("as an attribute name") }
    return try identifier("as an attribute name")
  }

  mutating func additive() throws(PolicyParseError) -> Expr {
    var left = try multiplicative()
    var links = 0
    defer { depth -= links }
    while true {
      if isSymbol(.plus) || isSymbol(.minus) {
        try descend()
        links += 1
      }
      if accept(.plus) {
        left = .binary(.add, left, try multiplicative())
      } else if accept(.minus) {
        left = .binary(.subtract, left, try multiplicative())
      } else {
        return left
      }
    }
  }

  mutating func multiplicative() throws(PolicyParseError) -> Expr {
    try leftChain(.star, { (parser: inout Parser) throws(PolicyParseError) in try parser.unary() }) { .binary(.multiply, $0, $1) }
  }

  mutating func unary() throws(PolicyParseError) -> Expr {
    var operators: [Token.Symbol] = []
    while isSymbol(.not) || isSymbol(.minus) {
      guard operators.count < 4 else { throw fail("more than four unary operators in a row") }
      operators.append(advance().kind == .symbol(.not) ? .not : .minus)
    }
    var operand: Expr
    // `-9223372036854775808` is a literal, not the negation of an out-of-range one.
    if operators.last == .minus, case let .integer(magnitude) = current.kind {
      _ = advance()
      operators.removeLast()
      operand = .integer(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
      operand = try member(operand)
    } else {
      operand = try member(try primary())
    }
    for op in operators.reversed() { operand = op == .not ? .not(operand) : .negate(operand) }
    return operand
  }

  mutating func member(_ base: Expr) throws(PolicyParseError) -> Expr {
    var result = base
    var links = 0
    defer { depth -= links }
    while true {
      if isSymbol(.dot) || isSymbol(.leftBracket) {
        try descend()
        links += 1
      }
      if accept(.dot) {
        let name = try identifier("after '.'")
        if accept(.leftParen) {
          result = .method(result, name, try arguments())
        } else {
          result = .attribute(result, name)
        }
      } else if isSymbol(.leftBracket) {
        _ = advance()
        let name = try stringLiteral("as an attribute name in [...]")
        try expect(.rightBracket, "after the attribute name")
        result = .attribute(result, name)
      } else {
        return result
      }
    }
  }

  /// Arguments after an opening parenthesis, through the closing one.
  mutating func arguments() throws(PolicyParseError) -> [Expr] {
    var list: [Expr] = []
    if accept(.rightParen) { return list }
    repeat { list.append(try expression()) } while accept(.comma)
    try expect(.rightParen, "to close the argument list")
    return list
  }

  mutating func primary() throws(PolicyParseError) -> Expr {
    let token = current
    switch token.kind {
    case let .integer(value):
      _ = advance()
      guard value <= UInt64(Int64.max) else { throw fail("integer literal is too large for a 64-bit integer", at: token) }
      return .integer(Int64(value))
    case .string:
      return .string(try stringLiteral(""))
    case .symbol(.leftParen):
      _ = advance()
      let inner = try expression()
      try expect(.rightParen, "to close the parenthesis")
      return inner
    case .symbol(.leftBracket):
      _ = advance()
      var elements: [Expr] = []
      if !isSymbol(.rightBracket) {
        repeat { elements.append(try expression()) } while accept(.comma) && !isSymbol(.rightBracket)
      }
      try expect(.rightBracket, "to close the set")
      return .set(elements)
    case .symbol(.leftBrace):
      _ = advance()
      var members: [RecordMember] = []
      if !isSymbol(.rightBrace) {
        repeat {
          let nameToken = current
          let name = try attributeName()
          guard !members.contains(where: { $0.name == name }) else { throw fail("duplicate record attribute \"\(name)\"", at: nameToken) }
          try expect(.colon, "after the record attribute name")
          members.append(RecordMember(name: name, value: try expression()))
        } while accept(.comma) && !isSymbol(.rightBrace)
      }
      try expect(.rightBrace, "to close the record")
      return .record(members)
    case let .identifier(name):
      switch name {
      case "true": _ = advance(); return .bool(true)
      case "false": _ = advance(); return .bool(false)
      case "principal", "action", "resource", "context":
        if case .symbol(.doubleColon) = tokens[position + 1].kind { break }
        _ = advance()
        return .variable(Expr.Variable(rawValue: name)!)
      default: break
      }
      // A path: an entity reference (Path::"id") or an extension function call (Path(args)).
      var components = [try identifier("")]
      while accept(.doubleColon) {
        if case .string = current.kind {
          let id = try stringLiteral("as the entity id")
          return .entity(EntityUID(type: components.joined(separator: "::"), id: id))
        }
        components.append(try identifier("in a path"))
      }
      if accept(.leftParen) { return .call(components.joined(separator: "::"), try arguments()) }
      if components.count == 1, reservedIdentifiers.contains(components[0]) {
        throw fail("'\(components[0])' is reserved and cannot start an expression", at: token)
      }
      throw fail("unknown variable '\(components.joined(separator: "::"))' (expected principal, action, resource or context)", at: token)
    case .symbol, .end:
      throw fail("expected an expression, found \(describe(token))")
    }
  }
}
