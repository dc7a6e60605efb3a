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

  private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

    /// Matches `text` (at most 16 bytes) here. Two overlapping word loads compare it, rather than a call
    /// to `memcmp`, which dominated the scan for these short literals.
    @inline(__always)
    mutating func literal(_ text: StaticString) throws(Failure) {
      let count = text.utf8CodeUnitCount
      guard position + count <= bytes.count, matches(text, count) else { throw fail("expected \(text)") }
      position += count
    }

    @inline(__always)
    func matches(_ text: StaticString, _ count: Int) -> Bool {
      let expected = UnsafeRawPointer(text.utf8Start)
      let here = bytes.baseAddress! + position
      if count >= 8 {
        let tail = count - 8
        return here.loadUnaligned(as: UInt64.self) == expected.loadUnaligned(as: UInt64.self)
          && (here + tail).loadUnaligned(as: UInt64.self) == (expected + tail).loadUnaligned(as: UInt64.self)
      }
      for i in 0..<count where here.load(fromByteOffset: i, as: UInt8.self) != expected.load(fromByteOffset: i, as: UInt8.self) {
        return false
      }
      return true
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
      guard position + 65 <= bytes.count, let prev = lowerHexDigest(at: position) else {
        throw fail("prev is not 64 lowercase hex digits")
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
      return Fields(index: UInt64(index), prev: prev, time: time)
    }

    /// The value of a lowercase hex digit (only in rare `\u00XX` escapes, so a branch is fine).
    func lowerHex(_ c: UInt8) -> UInt8? {
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
      default: return nil
      }
    }

    /// The 32 bytes spelled by the 64 lowercase hex digits at `offset`, decoded eight digits at a time
    /// without branches (SWAR): a per-digit branch mispredicts on every other digit of a random hash.
    func lowerHexDigest(at offset: Int) -> SHA256Digest? {
      let (w0, v0) = lowerHexWord(at: offset)
      let (w1, v1) = lowerHexWord(at: offset + 16)
      let (w2, v2) = lowerHexWord(at: offset + 32)
      let (w3, v3) = lowerHexWord(at: offset + 48)
      guard v0 && v1 && v2 && v3 else { return nil }
      return SHA256Digest(littleEndianWords: (w0, w1, w2, w3))
    }

    /// The eight bytes spelled by the sixteen lowercase hex digits at `offset` (as a little-endian
    /// word), and whether they all are such digits.
    @inline(__always)
    func lowerHexWord(at offset: Int) -> (UInt64, Bool) {
      let low = lowerHexHalfWord(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
      let high = lowerHexHalfWord(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
      return (low.value | high.value << 32, low.valid && high.valid)
    }

    /// The four bytes spelled by the eight hex digits in `w` (first digit in the low byte).
    @inline(__always)
    func lowerHexHalfWord(_ w: UInt64) -> (value: UInt64, valid: Bool) {
      let ones: UInt64 = 0x0101_0101_0101_0101
      let high: UInt64 = 0x8080_8080_8080_8080
      // With every byte below 0x80, adding up to 0x50 cannot carry into the next byte: a byte's high
      // bit after `+ (0x80 - low)` says it is >= low, after `+ (0x7F - top)` that it is > top.
      let atLeast0 = w &+ ones &* (0x80 - 0x30)
      let above9 = w &+ ones &* (0x7F - 0x39)
      let atLeastA = w &+ ones &* (0x80 - 0x61)
      let aboveF = w &+ ones &* (0x7F - 0x66)
      let isHex = (atLeast0 & ~above9) | (atLeastA & ~aboveF)
      let invalid = (w & high) | (~isHex & high)
      // '0'...'9' -> low nibble; 'a'...'f' -> low nibble + 9 (bit 6 marks a letter).
      let values = (w & (ones &* 0x0F)) &+ ((w >> 6) & ones) &* 9
      // Digit pairs (high nibble first) into bytes, then the four bytes together.
      var packed = ((values & 0x000F_000F_000F_000F) << 4) | ((values >> 8) & 0x000F_000F_000F_000F)
      packed = (packed | packed >> 8) & 0x0000_FFFF_0000_FFFF
      packed = (packed | packed >> 16) & 0xFFFF_FFFF
      return (packed, invalid == 0)
    }

    mutating func value(depth: Int) throws(Failure) {
      guard depth <= JSONParser.maximumDepth else { throw fail("nesting too deep") }
      guard let c = current else { throw fail("unexpected end") }
      switch c {
      case UInt8(ascii: "{"):
        position += 1
        if current == UInt8(ascii: "}") { position += 1; return }
        var previousKey: (range: Range<Int>, plain: Bool)? = nil
        while true {
          let keyStart = position
          let plain = try string()
          let key = (range: keyStart..<position, plain: plain)
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
      // Nineteen digits always fit a UInt64; a twentieth never fits an Int64.
      var magnitude: UInt64 = 0
      var digits = 0
      // Eight digits at a time while a whole word is left (SWAR), then byte by byte.
      while position + 8 <= bytes.count {
        let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        let count = Self.leadingDigits(word)
        guard count > 0 else { break }
        digits += count
        guard digits <= 19 else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
        magnitude = magnitude &* Self.powerOf10(count) &+ Self.decimalValue(word, digits: count)
        position += count
        guard count == 8 else { break }
      }
      while position < bytes.count {
        let digit = bytes[position] &- UInt8(ascii: "0")
        guard digit < 10 else { break }
        digits += 1
        guard digits <= 19 else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
        magnitude = magnitude &* 10 &+ UInt64(digit)
        position += 1
      }
      if let c = current, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
        throw Failure(offset: start, reason: "number is not a canonical integer")
      }
      if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
        return Int64(truncatingIfNeeded: 0 &- magnitude)
      }
      guard magnitude <= UInt64(Int64.max) else { throw Failure(offset: start, reason: "integer out of the 64-bit range") }
      return Int64(magnitude)
    }

    /// How many of the eight bytes of `word` (first byte lowest) are ASCII digits before the first that
    /// is not.
    @inline(__always)
    static func leadingDigits(_ word: UInt64) -> Int {
      let nibbles: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
      let threes: UInt64 = 0x3030_3030_3030_3030
      // A digit has high nibble 3 and still has it after adding 6. A carry out of a byte (0xFA and up)
      // only disturbs bytes after a non-digit, which are not counted.
      let notDigit = ((word & nibbles) ^ threes) | (((word &+ 0x0606_0606_0606_0606) & nibbles) ^ threes)
      let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
      let nonZero = (((notDigit & low7) &+ low7) | notDigit) & ~low7
      return nonZero == 0 ? 8 : nonZero.trailingZeroBitCount / 8
    }

    /// The value of the first `digits` (1...8) ASCII digits of `word` (first byte lowest, most significant).
    @inline(__always)
    static func decimalValue(_ word: UInt64, digits: Int) -> UInt64 {
      // The digits' values moved to the top bytes, with zeros (leading zeros) below them.
      var value = (word & 0x0F0F_0F0F_0F0F_0F0F) << UInt64(8 * (8 - digits))
      value = ((value &* (10 << 8 + 1)) >> 8) & 0x00FF_00FF_00FF_00FF
      value = ((value &* (100 << 16 + 1)) >> 16) & 0x0000_FFFF_0000_FFFF
      return (value &* (10_000 << 32 + 1)) >> 32
    }

    @inline(__always)
    static func powerOf10(_ exponent: Int) -> UInt64 {
      switch exponent {
      case 1: 10
      case 2: 100
      case 3: 1_000
      case 4: 10_000
      case 5: 100_000
      case 6: 1_000_000
      case 7: 10_000_000
      default: 100_000_000
      }
    }

    /// A string in canonical form: only the escapes RFC 8785 produces, valid UTF-8 otherwise. Returns
    /// whether it is plain — no escapes, only ASCII —, so its bytes are its UTF-16 code units.
    @discardableResult
    mutating func string() throws(Failure) -> Bool {
      guard current == UInt8(ascii: "\"") else { throw fail("expected a string") }
      position += 1
      var plain = true
      while position < bytes.count {
        skipPlainRun()
        guard position < bytes.count else { break }
        let c = bytes[position]
        if c == UInt8(ascii: "\"") { position += 1; return plain }
        if c == UInt8(ascii: "\\") {
          plain = false
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
        plain = false
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
    func precedes(_ a: (range: Range<Int>, plain: Bool), _ b: (range: Range<Int>, plain: Bool)) -> Bool {
      guard a.plain, b.plain else { return decode(a.range).lexicographicallyPrecedes(decode(b.range)) }
      // Plain ASCII: the bytes between the quotes are the UTF-16 code units.
      let aCount = a.range.count - 2
      let bCount = b.range.count - 2
      let base = bytes.baseAddress!
      let order = memcmp(base + a.range.lowerBound + 1, base + b.range.lowerBound + 1, min(aCount, bCount))
      return order < 0 || (order == 0 && aCount < bCount)
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
