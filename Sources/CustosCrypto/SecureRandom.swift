import CCustosOpenSSL

/// The operating system's CSPRNG, through OpenSSL's `RAND_bytes`.
public enum SecureRandom {
  /// `count` cryptographically secure random bytes.
  public static func bytes(_ count: Int) -> [UInt8] {
    precondition(count >= 0)
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { fill($0) }
    return out
  }

  /// Fills `buffer` with cryptographically secure random bytes.
  public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    // A CSPRNG that cannot produce bytes leaves no safe way to continue (keys, nonces would repeat).
    let rc = RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(buffer.count))
    precondition(rc == 1, "RAND_bytes failed: the system random source is unavailable")
  }
}
