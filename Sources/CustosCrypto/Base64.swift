/// Standard base64 (RFC 4648 §4) with padding, strict decoding, without Foundation.
public enum Base64 {
  private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  private static let reverse: [Int8] = {
    var table = [Int8](repeating: -1, count: 256)
    for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
    return table
  }()

  private static let urlAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

  /// Padded base64 of `bytes`.
  public static func encode(_ bytes: [UInt8]) -> String {
    String(decoding: encode(bytes, alphabet: alphabet, padded: true), as: UTF8.self)
  }

  private static func encode(_ bytes: [UInt8], alphabet: [UInt8], padded: Bool) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i + 3 <= bytes.count {
      let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
      out.append(alphabet[Int(n >> 18 & 63)])
      out.append(alphabet[Int(n >> 12 & 63)])
      out.append(alphabet[Int(n >> 6 & 63)])
      out.append(alphabet[Int(n & 63)])
      i += 3
    }
    let rest = bytes.count - i
    if rest > 0 {
      let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
      out.append(alphabet[Int(n >> 18 & 63)])
      out.append(alphabet[Int(n >> 12 & 63)])
      if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
      if padded { out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: 3 - rest)) }
    }
    return out
  }

  /// Decodes padded base64; nil for any character, padding or length outside RFC 4648 §4.
  public static func decode(_ text: some StringProtocol) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 4 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(chars.count / 4 * 3)
    var i = 0
    while i < chars.count {
      let isLast = i + 4 == chars.count
      var n: UInt32 = 0
      var padding = 0
      for j in 0..<4 {
        let c = chars[i + j]
        if c == UInt8(ascii: "="), isLast, j >= 2 {
          padding += 1
          n <<= 6
          continue
        }
        guard padding == 0 else { return nil }
        let v = reverse[Int(c)]
        guard v >= 0 else { return nil }
        n = n << 6 | UInt32(v)
      }
      out.append(UInt8(n >> 16 & 0xff))
      if padding < 2 { out.append(UInt8(n >> 8 & 0xff)) }
      if padding < 1 { out.append(UInt8(n & 0xff)) }
      i += 4
    }
    return out
  }

  /// Unpadded base64url (RFC 4648 §5), as JOSE uses it.
  public static func encodeURL(_ bytes: [UInt8]) -> String {
    String(decoding: encode(bytes, alphabet: urlAlphabet, padded: false), as: UTF8.self)
  }

  /// Decodes unpadded base64url; nil for padding, standard-alphabet characters or a bad length.
  public static func decodeURL(_ text: some StringProtocol) -> [UInt8]? {
    guard !text.contains(where: { $0 == "+" || $0 == "/" || $0 == "=" }), text.utf8.count % 4 != 1 else { return nil }
    var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
    while standard.utf8.count % 4 != 0 { standard += "=" }
    guard let bytes = decode(standard) else { return nil }
    // Reject non-canonical encodings (set bits in the unused tail), so one value has one spelling.
    return encodeURL(bytes) == String(text) ? bytes : nil
  }
}
