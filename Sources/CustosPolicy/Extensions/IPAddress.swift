/// Cedar's `ipaddr` extension value: an IPv4 or IPv6 address with a prefix length (a single address
/// has the full length). Kept as written: `ip("10.1.2.3/8")` and `ip("10.0.0.0/8")` are different values.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
  /// 4 or 16 bytes, big-endian.
  public let bytes: [UInt8]
  public let prefixLength: Int

  public var isIPv4: Bool { bytes.count == 4 }

  /// Parses `a.b.c.d[/n]` or an IPv6 address (hex groups, `::` compression) `[/n]`. As in Cedar, an IPv6
  /// address with an embedded dotted quad (`::ffff:1.2.3.4`) is rejected.
  public init?(_ text: String) {
    var address = Substring(text)
    var prefix: Int?
    if let slash = text.firstIndex(of: "/") {
      address = text[..<slash]
      let digits = text[text.index(after: slash)...]
      guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
        digits.count == 1 || digits.first != "0", let n = Int(digits)
      else { return nil }
      prefix = n
    }
    if let v4 = Self.parseIPv4(address) {
      guard (prefix ?? 32) <= 32 else { return nil }
      bytes = v4
      prefixLength = prefix ?? 32
    } else if let v6 = Self.parseIPv6(address) {
      guard (prefix ?? 128) <= 128 else { return nil }
      bytes = v6
      prefixLength = prefix ?? 128
    } else {
      return nil
    }
  }

  static func parseIPv4(_ text: Substring) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var out: [UInt8] = []
    for part in parts {
      guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
        part.count == 1 || part.first != "0", let n = UInt8(part)
      else { return nil }
      out.append(n)
    }
    return out
  }

  static func parseIPv6(_ text: Substring) -> [UInt8]? {
    guard text.contains(":") else { return nil }
    let halves = splitOnDoubleColon(String(text))
    guard halves.count <= 2 else { return nil }
    func groups(_ part: String) -> [UInt8]? {
      if part.isEmpty { return [] }
      var out: [UInt8] = []
      let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
      for (i, piece) in pieces.enumerated() {
        guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
        out += [UInt8(value >> 8), UInt8(value & 0xff)]
      }
      return out
    }
    if halves.count == 1 {
      guard let all = groups(halves[0]), all.count == 16 else { return nil }
      return all
    }
    guard let head = groups(halves[0]), let tail = groups(halves[1]),
      head.count + tail.count <= 14
    else { return nil }
    return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
  }

  static func splitOnDoubleColon(_ text: String) -> [String] {
    var parts: [String] = []
    var current = ""
    var chars = Array(text)[...]
    while let c = chars.first {
      if c == ":", chars.dropFirst().first == ":" {
        parts.append(current)
        current = ""
        chars = chars.dropFirst(2)
      } else {
        current.append(c)
        chars = chars.dropFirst()
      }
    }
    parts.append(current)
    return parts
  }

  /// The address with the bits past the prefix cleared.
  private var network: [UInt8] {
    bytes.enumerated().map { i, byte in
      let bitsHere = max(0, min(8, prefixLength - i * 8))
      return bitsHere == 8 ? byte : byte & ~UInt8(0xff >> bitsHere)
    }
  }

  /// True when every address of this range lies in `other`'s range.
  public func isInRange(_ other: IPAddress) -> Bool {
    guard bytes.count == other.bytes.count, prefixLength >= other.prefixLength else { return false }
    let narrowed = IPAddress(bytes: bytes, prefixLength: other.prefixLength)
    return narrowed.network == other.network
  }

  public var isLoopback: Bool {
    isIPv4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
  }

  public var isMulticast: Bool {
    isIPv4 ? (bytes[0] & 0xf0 == 0xe0 && prefixLength >= 4) : (bytes[0] == 0xff && prefixLength >= 8)
  }

  private init(bytes: [UInt8], prefixLength: Int) {
    self.bytes = bytes
    self.prefixLength = prefixLength
  }

  public var description: String {
    let address = isIPv4
      ? bytes.map(String.init).joined(separator: ".")
      : stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    return "\(address)/\(prefixLength)"
  }
}

