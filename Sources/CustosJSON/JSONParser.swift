/// A strict JSON parser (RFC 8259) for ledger input: UTF-8 only, no duplicate keys, integers only.
///
/// Errors name the byte offset and what was wrong, so a caller can fix its payload.
public struct JSONParser {
  /// Why input was rejected.
  public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "\(reason) at byte \(offset)" }
  }

  /// Deepest nesting accepted; keeps recursion bounded for hostile input.
  public static let maximumDepth = 64

  private let bytes: [UInt8]
  private var position = 0

  /// Parses exactly one JSON value from `bytes` (surrounding whitespace allowed).
  public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.fail("unexpected data after the JSON value") }
    return value
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  private func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

  private mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0a, 0x0d: position += 1
      default: return
      }
    }
  }

  private mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
    guard depth < JSONParser.maximumDepth else { throw fail("nesting deeper than \(JSONParser.maximumDepth)") }
    guard position < bytes.count else { throw fail("unexpected end of input") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try expectLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try parseInteger())
    default: throw fail("unexpected character")
    }
  }

  private mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
    let count = literal.utf8CodeUnitCount
    guard position + count <= bytes.count else { throw fail("invalid literal") }
    for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
      throw fail("invalid literal")
    }
    position += count
  }

  private mutating func parseObject(depth: Int) throws(Failure) -> JSONValue {
    position += 1
    var members: [String: JSONValue] = [:]
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
      let keyOffset = position
      let key = try parseString()
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
      position += 1
      skipWhitespace()
      let value = try parseValue(depth: depth + 1)
      guard members.updateValue(value, forKey: key) == nil else {
        throw Failure(offset: keyOffset, reason: "duplicate key \"\(key)\"")
      }
      skipWhitespace()
      guard position < bytes.count else { throw fail("unexpected end of input in object") }
      if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
      if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
      throw fail("expected ',' or '}'")
    }
  }

  private mutating func parseArray(depth: Int) throws(Failure) -> JSONValue {
    position += 1
    var elements: [JSONValue] = []
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard position < bytes.count else { throw fail("unexpected end of input in array") }
      if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
      if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
      throw fail("expected ',' or ']'")
    }
  }

  private mutating func parseInteger() throws(Failure) -> Int64 {
    let start = position
    var negative = false
    if bytes[position] == UInt8(ascii: "-") { negative = true; position += 1 }
    guard position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) else {
      throw fail("invalid number")
    }
    if bytes[position] == UInt8(ascii: "0"), position + 1 < bytes.count,
      (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position + 1])
    {
      throw fail("leading zeros are not allowed")
    }
    // Accumulate as a negative number so Int64.min is representable.
    var value: Int64 = 0
    while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
      let digit = Int64(bytes[position] - UInt8(ascii: "0"))
      let (times10, o1) = value.multipliedReportingOverflow(by: 10)
      let (next, o2) = times10.subtractingReportingOverflow(digit)
      guard !o1, !o2 else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
      value = next
      position += 1
    }
    if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
      throw Failure(offset: start, reason: "floating-point numbers are not allowed (integers only)")
    }
    if negative { return value }
    guard value != Int64.min else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
    return -value
  }

  private mutating func parseString() throws(Failure) -> String {
    position += 1
    var scalars = String.UnicodeScalarView()
    while true {
      guard position < bytes.count else { throw fail("unterminated string") }
      let byte = bytes[position]
      switch byte {
      case UInt8(ascii: "\""):
        position += 1
        return String(scalars)
      case UInt8(ascii: "\\"):
        position += 1
        scalars.append(try parseEscape())
      case 0x00..<0x20:
        throw fail("unescaped control character in string")
      case 0x00..<0x80:
        scalars.append(Unicode.Scalar(byte))
        position += 1
      default:
        scalars.append(try parseUTF8Scalar())
      }
    }
  }

  private mutating func parseEscape() throws(Failure) -> Unicode.Scalar {
    guard position < bytes.count else { throw fail("unterminated escape") }
    let c = bytes[position]
    position += 1
    switch c {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{08}"
    case UInt8(ascii: "f"): return "\u{0C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      let first = try parseHex4()
      if (0xD800..<0xDC00).contains(first) {
        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
        else { throw fail("unpaired surrogate escape") }
        position += 2
        let second = try parseHex4()
        guard (0xDC00..<0xE000).contains(second) else { throw fail("unpaired surrogate escape") }
        return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
      }
      guard let scalar = Unicode.Scalar(first) else { throw fail("unpaired surrogate escape") }
      return scalar
    default:
      throw fail("invalid escape")
    }
  }

  private mutating func parseHex4() throws(Failure) -> UInt32 {
    guard position + 4 <= bytes.count else { throw fail("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[position]
      let digit: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw fail("invalid \\u escape")
      }
      value = value << 4 | digit
      position += 1
    }
    return value
  }

  private mutating func parseUTF8Scalar() throws(Failure) -> Unicode.Scalar {
    guard let (scalar, length) = UTF8Sequence.decode(bytes, at: position) else { throw fail("invalid UTF-8") }
    position += length
    return scalar
  }
}
