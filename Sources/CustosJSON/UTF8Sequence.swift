/// Strict decoding of one multi-byte UTF-8 sequence: no overlong forms, no surrogates, nothing past
/// U+10FFFF. Shared by the JSON parser and the ledger's canonical-entry scanner.
public enum UTF8Sequence {
  /// The scalar whose encoding starts at `position` (a lead byte ≥ 0x80) and the encoding's length, or
  /// nil when the bytes there are not valid UTF-8.
  @inlinable
  public static func decode<Bytes: RandomAccessCollection>(_ bytes: Bytes, at position: Int) -> (scalar: Unicode.Scalar, length: Int)?
  where Bytes.Element == UInt8, Bytes.Index == Int {
    let lead = bytes[position]
    let length: Int
    var value: UInt32
    switch lead {
    case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F)
    case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F)
    case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07)
    default: return nil
    }
    guard position + length <= bytes.endIndex else { return nil }
    for i in 1..<length {
      let continuation = bytes[position + i]
      guard continuation & 0xC0 == 0x80 else { return nil }
      value = value << 6 | UInt32(continuation & 0x3F)
    }
    let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
    guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
    return (scalar, length)
  }
}
