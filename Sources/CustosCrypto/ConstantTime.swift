import CCustosOpenSSL

/// Comparisons whose running time does not depend on where the inputs differ.
public enum ConstantTime {
  /// True when `a` and `b` have the same length and bytes. Only the lengths may leak through timing.
  public static func equals(_ a: some RawBytes, _ b: some RawBytes) -> Bool {
    a.withUnsafeBytes { pa in
      b.withUnsafeBytes { pb in
        guard pa.count == pb.count else { return false }
        guard pa.count > 0 else { return true }
        return CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0
      }
    }
  }
}
