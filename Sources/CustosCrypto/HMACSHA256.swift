import CCustosOpenSSL

/// HMAC-SHA256 (RFC 2104, FIPS 198-1).
public enum HMACSHA256 {
  /// The 32-byte authentication code of `message` under `key`.
  public static func authenticationCode(key: some RawBytes, message: some RawBytes) -> SHA256Digest {
    key.withUnsafeBytes { k in
      message.withUnsafeBytes { m in
        SHA256Digest.filling { out in
          var length: UInt32 = 0
          let result = HMAC(
            EVP_sha256(), k.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(k.count),
            m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
          precondition(result != nil && length == 32, "HMAC-SHA256 failed inside OpenSSL")
        }
      }
    }
  }

  /// True when `tag` is the code of `message` under `key`, or its leading `tag.count` bytes (at least 16),
  /// compared in constant time.
  public static func isValid(tag: some RawBytes, key: some RawBytes, message: some RawBytes) -> Bool {
    let expected = authenticationCode(key: key, message: message).bytes
    return tag.withUnsafeBytes { t in
      guard t.count >= 16, t.count <= 32 else { return false }
      return ConstantTime.equals(t, expected[0..<t.count])
    }
  }
}
