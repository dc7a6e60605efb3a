/// RFC 8785 (JSON Canonicalization Scheme) encoding for integer-only JSON.
///
/// Object members are sorted by the UTF-16 code units of their keys; strings use the shortest escapes
/// (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, else `\u00xx` for other control characters) and
/// otherwise literal UTF-8; no whitespace. Integers are written in plain decimal — what JCS writes for
/// integers, extended exactly to the whole Int64 range (the ledger's nanosecond times exceed 2^53).
public enum CanonicalJSON {
  /// The canonical bytes of `value`.
  public static func encode(_ value: JSONValue) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(256)
    write(value, into: &out)
    return out
  }

  /// Appends the canonical bytes of `value` to `out`.
  public static func write(_ value: JSONValue, into out: inout [UInt8]) {
    switch value {
    case .null: out.append(contentsOf: "null".utf8)
    case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case let .integer(n): writeInteger(n, into: &out)
    case let .string(s): writeString(s, into: &out)
    case let .array(elements):
      out.append(UInt8(ascii: "["))
      for (i, element) in elements.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        write(element, into: &out)
      }
      out.append(UInt8(ascii: "]"))
    case let .object(members):
      out.append(UInt8(ascii: "{"))
      for (i, key) in sortedKeys(members.keys).enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        writeString(key, into: &out)
        out.append(UInt8(ascii: ":"))
        write(members[key]!, into: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  /// Keys in RFC 8785 order: lexicographic over UTF-16 code units.
  public static func sortedKeys(_ keys: some Sequence<String>) -> [String] {
    keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
  }

  public static func writeInteger(_ n: Int64, into out: inout [UInt8]) {
    if n == 0 { out.append(UInt8(ascii: "0")); return }
    var magnitude = n.magnitude
    var digits = [UInt8]()
    digits.reserveCapacity(20)
    while magnitude > 0 {
      digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
      magnitude /= 10
    }
    if n < 0 { out.append(UInt8(ascii: "-")) }
    out.append(contentsOf: digits.reversed())
  }

  private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  public static func writeString(_ s: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in s.utf8 {
      switch byte {
      case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
      case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
      case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
      case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      case 0x00..<0x20:
        out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0F)])
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
