/// Splits Cedar policy text into tokens, tracking line and column for error messages.
struct Lexer {
  private let scalars: [Unicode.Scalar]
  private var index = 0
  private var line = 1
  private var column = 1

  init(_ text: String) { scalars = Array(text.unicodeScalars) }

  static func tokenize(_ text: String) throws(PolicyParseError) -> [Token] {
    var lexer = Lexer(text)
    var tokens: [Token] = []
    while true {
      let token = try lexer.next()
      tokens.append(token)
      if token.kind == .end { return tokens }
    }
  }

  private var location: SourceLocation { SourceLocation(line: line, column: column) }

  private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
    index + offset < scalars.count ? scalars[index + offset] : nil
  }

  private mutating func advance() -> Unicode.Scalar {
    let scalar = scalars[index]
    index += 1
    if scalar == "\n" {
      line += 1
      column = 1
    } else {
      column += 1
    }
    return scalar
  }

  private mutating func skipTrivia() {
    while let c = peek() {
      if c == " " || c == "\t" || c == "\n" || c == "\r" {
        _ = advance()
      } else if c == "/", peek(1) == "/" {
        while let c = peek(), c != "\n" { _ = advance() }
      } else {
        return
      }
    }
  }

  mutating func next() throws(PolicyParseError) -> Token {
    skipTrivia()
    let start = location
    guard let c = peek() else { return Token(kind: .end, location: start) }
    if c == "_" || Self.isASCIILetter(c) {
      var name = ""
      while let c = peek(), c == "_" || Self.isASCIILetter(c) || ("0"..."9").contains(c) {
        name.unicodeScalars.append(advance())
      }
      return Token(kind: .identifier(name), location: start)
    }
    if ("0"..."9").contains(c) {
      var value: UInt64 = 0
      var overflow = false
      while let c = peek(), ("0"..."9").contains(c) {
        _ = advance()
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(c.value - 48))
        overflow = overflow || o1 || o2
        value = sum
      }
      // Up to 2^63 is representable (as the magnitude of i64::MIN); the parser checks the sign.
      guard !overflow, value <= UInt64(Int64.max) + 1 else {
        throw PolicyParseError(location: start, message: "integer literal is too large for a 64-bit integer")
      }
      return Token(kind: .integer(value), location: start)
    }
    if c == "\"" { return try string(start: start) }
    if let second = peek(1), let symbol = Self.twoScalarSymbols[c]?[second] {
      _ = advance()
      _ = advance()
      return Token(kind: .symbol(symbol), location: start)
    }
    if let symbol = Self.oneScalarSymbols[c] {
      _ = advance()
      return Token(kind: .symbol(symbol), location: start)
    }
    throw PolicyParseError(location: start, message: "unexpected character '\(c)'")
  }

  private static func isASCIILetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }

  // Looked up once per token instead of spelling each symbol's text out again for every token.
  private static let oneScalarSymbols: [Unicode.Scalar: Token.Symbol] = Dictionary(
    uniqueKeysWithValues: Token.Symbol.allCases.compactMap { symbol in
      let text = Array(symbol.rawValue.unicodeScalars)
      return text.count == 1 ? (text[0], symbol) : nil
    })
  private static let twoScalarSymbols: [Unicode.Scalar: [Unicode.Scalar: Token.Symbol]] = Token.Symbol.allCases.reduce(into: [:]) { table, symbol in
    let text = Array(symbol.rawValue.unicodeScalars)
    if text.count == 2 { table[text[0], default: [:]][text[1]] = symbol }
  }

  /// A string literal. Keeps the raw text too: `like` patterns treat `\*` differently from strings.
  private mutating func string(start: SourceLocation) throws(PolicyParseError) -> Token {
    _ = advance()
    var raw = String.UnicodeScalarView()
    while let c = peek() {
      if c == "\"" {
        _ = advance()
        // Escapes are decoded by the parser: `\*` is valid in a `like` pattern and nowhere else.
        return Token(kind: .string(raw: String(raw)), location: start)
      }
      if c == "\\" {
        raw.append(advance())
        guard peek() != nil else { break }
      }
      raw.append(advance())
    }
    throw PolicyParseError(location: start, message: "unterminated string literal")
  }

  /// One decoded character of a string or pattern, and whether it came from the escape `\*`.
  struct Decoded {
    var scalar: Unicode.Scalar
    var escapedStar: Bool
  }

  /// A string literal's text with its escapes decoded (outside a pattern, where `\*` is not one).
  static func unescapedText(_ raw: String, location: SourceLocation) throws(PolicyParseError) -> String {
    // Encoded into one buffer and decoded once: appending scalar by scalar to a String (or building a
    // UnicodeScalarView from them) costs five times as much, and long literals are where parsing spends.
    var utf8: [UInt8] = []
    utf8.reserveCapacity(raw.utf8.count)
    for decoded in try unescape(raw, location: location, allowStar: false) {
      if let encoded = UTF8.encode(decoded.scalar) { utf8.append(contentsOf: encoded) }
    }
    return String(decoding: utf8, as: UTF8.self)
  }

  /// Decodes Cedar's escapes: `\n \r \t \\ \0 \' \"`, `\u{1-6 hex}` and, where patterns allow it, `\*`.
  static func unescape(_ raw: String, location: SourceLocation, allowStar: Bool) throws(PolicyParseError) -> [Decoded] {
    var out: [Decoded] = []
    let scalars = Array(raw.unicodeScalars)
    var i = 0
    while i < scalars.count {
      let c = scalars[i]
      i += 1
      guard c == "\\" else {
        out.append(Decoded(scalar: c, escapedStar: false))
        continue
      }
      guard i < scalars.count else { throw PolicyParseError(location: location, message: "string ends in a backslash") }
      let e = scalars[i]
      i += 1
      switch e {
      case "n": out.append(Decoded(scalar: "\n", escapedStar: false))
      case "r": out.append(Decoded(scalar: "\r", escapedStar: false))
      case "t": out.append(Decoded(scalar: "\t", escapedStar: false))
      case "0": out.append(Decoded(scalar: "\0", escapedStar: false))
      case "\\", "'", "\"": out.append(Decoded(scalar: e, escapedStar: false))
      case "*" where allowStar: out.append(Decoded(scalar: "*", escapedStar: true))
      case "u":
        guard i < scalars.count, scalars[i] == "{" else { throw PolicyParseError(location: location, message: "invalid \\u escape: expected \\u{...}") }
        i += 1
        var hex = ""
        while i < scalars.count, scalars[i] != "}" {
          hex.unicodeScalars.append(scalars[i])
          i += 1
        }
        guard i < scalars.count, (1...6).contains(hex.count), let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
          throw PolicyParseError(location: location, message: "invalid \\u{\(hex)} escape")
        }
        i += 1
        out.append(Decoded(scalar: scalar, escapedStar: false))
      default:
        throw PolicyParseError(location: location, message: "invalid escape \\\(e)")
      }
    }
    return out
  }
}
