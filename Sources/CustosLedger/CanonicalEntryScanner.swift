import CustosCrypto
import CustosJSON

/// Checks, in one pass and without allocating, that bytes are exactly the RFC 8785 canonical form of a
/// ledger entry, and extracts what verification links on: `index`, `prev` and `time`.
///
/// Agrees with `LedgerEntry(canonicalBytes:)` (parse, then re-encode and compare) on every input — a
/// test holds them to that — but runs at a fraction of its cost, so verifying a log costs little more
/// than hashing it.
public enum CanonicalEntryScanner {
  /// What verification needs from an entry.
  public struct Fields: Equatable, Sendable {
    public var index: UInt64
    public var prev: SHA256Digest
    /// Nanoseconds since the Unix epoch.
    public var time: Int64
  }

  /// Why bytes are not a canonical entry.
  public struct Failure: Error, Equatable, Sendable {
    public var offset: Int
    public var reason: String
  }

  public static func scan(_ bytes: UnsafeRawBufferPointer) -> Result<Fields, Failure> {
    var scanner = Scanner(bytes: bytes)
    do {
      return .success(try scanner.entry())
    } catch {
      return .failure(error)
    }
  }

  /// Where each member's value lies in a canonical entry: the string tokens (quotes included) and the
  /// `details` object, for readers that need the values without parsing the whole entry.
  public struct Members: Sendable {
    public var fields = Fields(index: 0, prev: .zero, time: 0)
    public var action = 0..<0
    public var actor = 0..<0
    public var details = 0..<0
    public var kind = 0..<0
    public var outcome = 0..<0
    public var resource = 0..<0
  }

  /// The entry's members, or why the bytes are not a canonical entry.
  public static func members(_ bytes: UnsafeRawBufferPointer) -> Result<Members, Failure> {
    var scanner = Scanner(bytes: bytes)
    do {
      var members = Members()
      members.fields = try scanner.entry(recording: &members)
      return .success(members)
    } catch {
      return .failure(error)
    }
  }

  public static func scan(_ bytes: [UInt8]) -> Result<Fields, Failure> {
    bytes.withUnsafeBytes { scan($0) }
  }

  /// Lowercase hex digit values; 0xFF for every other byte.
  private static let lowerHexTable: [UInt8] = (0..<256).map { c in
    switch UInt8(c) {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt8(c) - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt8(c) - UInt8(ascii: "a") + 10
    default: return 0xFF
    }
  }

  private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    let lowerHexTable = CanonicalEntryScanner.lowerHexTable

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

    mutating func literal(_ text: StaticString) throws(Failure) {
      let count = text.utf8CodeUnitCount
      guard position + count <= bytes.count,
        memcmp(bytes.baseAddress! + position, text.utf8Start, count) == 0
      else { throw fail("expected \(text)") }
      position += count
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func entry() throws(Failure) -> Fields {
      var ignored = Members()
      return try entry(recording: &ignored)
    }

    mutating func entry(recording members: inout Members) throws(Failure) -> Fields {
      try literal("{\"action\":")
      var start = position
      try string()
      members.action = start..<position
      try literal(",\"actor\":")
      start = position
      try string()
      members.actor = start..<position
      try literal(",\"details\":")
      guard current == UInt8(ascii: "{") else { throw fail("details is not an object") }
      start = position
      try value(depth: 1)
      members.details = start..<position
      try literal(",\"index\":")
      let index = try integer()
      guard index >= 0 else { throw fail("index is negative") }
      try literal(",\"kind\":")
      start = position
      try string()
      members.kind = start..<position
      try literal(",\"outcome\":")
      start = position
      try string()
      members.outcome = start..<position
      try literal(",\"prev\":\"")
      guard position + 65 <= bytes.count else { throw fail("prev is not 64 lowercase hex digits") }
      var prevBytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
      try withUnsafeMutableBytes(of: &prevBytes) { (out) throws(Failure) in
        for i in 0..<32 {
          guard let high = lowerHex(bytes[position + 2 * i]), let low = lowerHex(bytes[position + 2 * i + 1]) else {
            throw fail("prev is not 64 lowercase hex digits")
          }
          out[i] = high << 4 | low
        }
      }
      position += 64
      try literal("\"")
      try literal(",\"resource\":")
      start = position
      try string()
      members.resource = start..<position
      try literal(",\"time\":")
      let time = try integer()
      try literal("}")
      guard position == bytes.count else { throw fail("data after the entry") }
      let prev = withUnsafeBytes(of: prevBytes) { SHA256Digest(bytes: $0)! }
      return Fields(index: UInt64(index), prev: prev, time: time)
    }

    func lowerHex(_ c: UInt8) -> UInt8? {
      let value = lowerHexTable[Int(c)]
      return value == 0xFF ? nil : value
    }

    mutating func value(depth: Int) throws(Failure) {
      guard depth <= JSONParser.maximumDepth else { throw fail("nesting too deep") }
      guard let c = current else { throw fail("unexpected end") }
      switch c {
      case UInt8(ascii: "{"):
        position += 1
        if current == UInt8(ascii: "}") { position += 1; return }
        var previousKey: Range<Int>? = nil
        while true {
          let keyStart = position
          try string()
          let key = keyStart..<position
          if let previousKey, !precedes(previousKey, key) { throw Failure(offset: keyStart, reason: "object members are not in canonical order") }
          previousKey = key
          try literal(":")
          try value(depth: depth + 1)
          guard let next = current else { throw fail("unexpected end in object") }
          position += 1
          if next == UInt8(ascii: "}") { return }
          guard next == UInt8(ascii: ",") else { position -= 1; throw fail("expected , or }") }
        }
      case UInt8(ascii: "["):
        position += 1
        if current == UInt8(ascii: "]") { position += 1; return }
        while true {
          try value(depth: depth + 1)
          guard let next = current else { throw fail("unexpected end in array") }
          position += 1
          if next == UInt8(ascii: "]") { return }
          guard next == UInt8(ascii: ",") else { position -= 1; throw fail("expected , or ]") }
        }
      case UInt8(ascii: "\""): try string()
      case UInt8(ascii: "t"): try literal("true")
      case UInt8(ascii: "f"): try literal("false")
      case UInt8(ascii: "n"): try literal("null")
      default: _ = try integer()
      }
    }

    /// A canonical integer: `-?(0|[1-9][0-9]*)` within Int64, never `-0`.
    mutating func integer() throws(Failure) -> Int64 {
      let start = position
      var negative = false
      if current == UInt8(ascii: "-") { negative = true; position += 1 }
      guard let first = current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw fail("expected a number") }
      if first == UInt8(ascii: "0") {
        position += 1
        guard !negative else { throw Failure(offset: start, reason: "-0 is not canonical") }
        if let c = current, (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
          throw Failure(offset: start, reason: "number is not a canonical integer")
        }
        return 0
      }
      var value: Int64 = 0
      while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (next, o2) = times10.subtractingReportingOverflow(Int64(c - UInt8(ascii: "0")))
        guard !o1, !o2 else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
        value = next
        position += 1
      }
      if let c = current, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
        throw Failure(offset: start, reason: "number is not a canonical integer")
      }
      if negative { return value }
      guard value != Int64.min else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
      return -value
    }

    /// A string in canonical form: only the escapes RFC 8785 produces, valid UTF-8 otherwise.
    mutating func string() throws(Failure) {
      guard current == UInt8(ascii: "\"") else { throw fail("expected a string") }
      position += 1
      while position < bytes.count {
        skipPlainRun()
        guard position < bytes.count else { break }
        let c = bytes[position]
        if c == UInt8(ascii: "\"") { position += 1; return }
        if c == UInt8(ascii: "\\") {
          guard position + 1 < bytes.count else { break }
          switch bytes[position + 1] {
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 2
          case UInt8(ascii: "u"):
            guard position + 6 <= bytes.count, bytes[position + 2] == UInt8(ascii: "0"), bytes[position + 3] == UInt8(ascii: "0"),
              let high = lowerHex(bytes[position + 4]), let low = lowerHex(bytes[position + 5])
            else { throw fail("non-canonical \\u escape") }
            let scalar = high << 4 | low
            guard scalar < 0x20, ![0x08, 0x09, 0x0A, 0x0C, 0x0D].contains(scalar) else { throw fail("non-canonical \\u escape") }
            position += 6
          default:
            throw fail("non-canonical escape")
          }
          continue
        }
        if c < 0x20 { throw fail("unescaped control character") }
        if c < 0x80 { position += 1; continue }
        try utf8Sequence()
      }
      throw fail("unterminated string")
    }

    /// Moves to the next byte that is a quote, a backslash, a control character or non-ASCII, eight bytes
    /// at a time (SWAR). The lowest flagged byte of a word is always a true match — the borrow tricks can
    /// only raise false flags above a real one — so the jump lands exactly on it.
    mutating func skipPlainRun() {
      let high: UInt64 = 0x8080_8080_8080_8080
      let ones: UInt64 = 0x0101_0101_0101_0101
      while position + 8 <= bytes.count {
        let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let flags = (word & high) | ((word &- ones &* 0x20) & ~word & high) | ((quote &- ones) & ~quote & high)
          | ((backslash &- ones) & ~backslash & high)
        if flags != 0 {
          position += flags.trailingZeroBitCount / 8
          return
        }
        position += 8
      }
    }

    mutating func utf8Sequence() throws(Failure) {
      guard let (_, length) = UTF8Sequence.decode(bytes, at: position) else { throw fail("invalid UTF-8") }
      position += length
    }

    /// RFC 8785 member order: UTF-16 code units of the decoded names. Strictly less (no duplicates).
    func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
      let simple = !bytes[a].contains { $0 == UInt8(ascii: "\\") || $0 >= 0x80 } && !bytes[b].contains { $0 == UInt8(ascii: "\\") || $0 >= 0x80 }
      if simple {
        // Plain ASCII: the bytes between the quotes are the UTF-16 code units.
        return bytes[(a.lowerBound + 1)..<(a.upperBound - 1)].lexicographicallyPrecedes(bytes[(b.lowerBound + 1)..<(b.upperBound - 1)])
      }
      return decode(a).lexicographicallyPrecedes(decode(b))
    }

    /// The UTF-16 code units of a (validated, canonical) string token.
    func decode(_ token: Range<Int>) -> [UInt16] {
      var units: [UInt16] = []
      var i = token.lowerBound + 1
      let end = token.upperBound - 1
      var scalarBytes: [UInt8] = []
      while i < end {
        let c = bytes[i]
        if c == UInt8(ascii: "\\") {
          switch bytes[i + 1] {
          case UInt8(ascii: "b"): units.append(0x08)
          case UInt8(ascii: "f"): units.append(0x0C)
          case UInt8(ascii: "n"): units.append(0x0A)
          case UInt8(ascii: "r"): units.append(0x0D)
          case UInt8(ascii: "t"): units.append(0x09)
          case UInt8(ascii: "u"):
            units.append(UInt16(lowerHex(bytes[i + 4])! << 4 | lowerHex(bytes[i + 5])!))
            i += 6
            continue
          default: units.append(UInt16(bytes[i + 1]))
          }
          i += 2
          continue
        }
        scalarBytes.removeAll(keepingCapacity: true)
        let length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
        scalarBytes.append(contentsOf: bytes[i..<(i + length)])
        units.append(contentsOf: String(decoding: scalarBytes, as: UTF8.self).utf16)
        i += length
      }
      return units
    }
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
