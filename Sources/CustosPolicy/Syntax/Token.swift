/// A lexical token of the Cedar policy language.
struct Token: Sendable, Equatable {
  enum Kind: Sendable, Equatable {
    case identifier(String)
    /// The text between the quotes, escapes not yet decoded.
    case string(raw: String)
    /// A decimal literal's magnitude; the sign is a separate `-` token (so i64::MIN can be written).
    case integer(UInt64)
    case symbol(Symbol)
    case end
  }

  enum Symbol: String, Sendable, CaseIterable {
    case at = "@", leftParen = "(", rightParen = ")", leftBrace = "{", rightBrace = "}", leftBracket = "[",
      rightBracket = "]", comma = ",", semicolon = ";", colon = ":", doubleColon = "::", dot = ".",
      equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">=",
      and = "&&", or = "||", not = "!", plus = "+", minus = "-", star = "*", question = "?", assign = "="
  }

  var kind: Kind
  var location: SourceLocation
}
