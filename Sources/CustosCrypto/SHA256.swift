import CCustosOpenSSL

/// SHA-256 (FIPS 180-4), one-shot or incremental.
///
/// Uses OpenSSL's low-level SHA-256 rather than `EVP_Digest`: it skips the provider dispatch, which
/// dominates for the short inputs (ledger entries, Merkle nodes) this service hashes millions of.
public struct SHA256: Sendable {
  private var context = SHA256_CTX()

  /// A hasher ready for `update`.
  public init() {
    SHA256_Init(&context)
  }

  /// Feeds more bytes.
  public mutating func update(_ bytes: some RawBytes) {
    bytes.withUnsafeBytes { buffer in
      if buffer.count > 0 { SHA256_Update(&context, buffer.baseAddress, buffer.count) }
    }
  }

  /// Feeds one byte.
  public mutating func update(byte: UInt8) {
    var byte = byte
    SHA256_Update(&context, &byte, 1)
  }

  /// The digest of everything fed so far. The hasher must not be used afterwards.
  public mutating func finalize() -> SHA256Digest {
    SHA256Digest.filling { out in
      _ = SHA256_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
    }
  }

  /// SHA-256(`prefix` || `bytes`): a domain-separated hash (RFC 9162 leaves and nodes) in one call,
  /// with no generic dispatch, for the millions of short inputs a log verification hashes.
  public static func hash(prefixedBy prefix: UInt8, _ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
    var context = SHA256_CTX()
    var prefix = prefix
    SHA256_Init(&context)
    SHA256_Update(&context, &prefix, 1)
    if bytes.count > 0 { SHA256_Update(&context, bytes.baseAddress, bytes.count) }
    return SHA256Digest.filling { out in
      _ = SHA256_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
    }
  }

  /// SHA-256 of `bytes`. (Not OpenSSL's one-shot `SHA256()`: in OpenSSL 3 it fetches the digest from
  /// the provider on every call, which costs more than hashing a short input.)
  public static func hash(_ bytes: some RawBytes) -> SHA256Digest {
    var hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }
}
