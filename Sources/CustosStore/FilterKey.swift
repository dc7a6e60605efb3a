/// The 64-bit key a filter column is indexed by: FNV-1a over the value's UTF-8 bytes.
///
/// Stable across processes and versions (unlike Swift's seeded `Hasher`), because it is stored.
/// Collisions only widen an index lookup; queries compare the text as well.
public enum FilterKey {
  public static func of(_ value: String) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in value.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    return Int64(bitPattern: hash)
  }
}
