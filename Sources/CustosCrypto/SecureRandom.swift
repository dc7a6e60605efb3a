import CCustosOpenSSL

/// The operating system's CSPRNG, through OpenSSL's `RAND_bytes`.
public enum SecureRandom {
  /// `count` cryptographically secure random bytes.
  public static func bytes(_ count: Int) -> [UInt8] {
    precondition(count >= 0)
    var out = [UInt8](repeating: 0, count: count)
    guard count > 0 else { return out }
    let rc = out.withUnsafeMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
    // A CSPRNG that cannot produce bytes leaves no safe way to continue (keys, nonces would repeat).
    precondition(rc == 1, "RAND_bytes failed: the system random source is unavailable")
    return out
  }
}
