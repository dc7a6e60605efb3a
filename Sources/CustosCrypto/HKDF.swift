import CCustosOpenSSL

/// HKDF with SHA-256 (RFC 5869), through OpenSSL's EVP_KDF.
public enum HKDF {
  /// The largest output RFC 5869 allows for SHA-256: 255 blocks of 32 bytes.
  public static let maximumOutputLength = 255 * 32

  /// Derives `outputLength` bytes from `inputKeyMaterial`, `salt` and `info`. An empty salt means 32 zero bytes.
  public static func deriveKey(
    inputKeyMaterial: some RawBytes, salt: some RawBytes, info: some RawBytes,
    outputLength: Int
  ) throws(CryptoError) -> SecretBytes {
    guard outputLength > 0, outputLength <= maximumOutputLength else {
      throw .invalidLength(what: "HKDF output", expected: "1...\(maximumOutputLength)", got: outputLength)
    }
    var output = [UInt8](repeating: 0, count: outputLength)
    defer { SecretBytes.wipe(&output) }
    let rc: Int32 = inputKeyMaterial.withUnsafeBytes { ikm in
      salt.withUnsafeBytes { saltBytes in
        info.withUnsafeBytes { infoBytes in
          output.withUnsafeMutableBytes { out in
            ccustos_hkdf_sha256(
              ikm.baseAddress?.assumingMemoryBound(to: UInt8.self), ikm.count,
              saltBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), saltBytes.count,
              infoBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), infoBytes.count,
              out.baseAddress!.assumingMemoryBound(to: UInt8.self), outputLength)
          }
        }
      }
    }
    guard rc == 1 else { throw .libraryFailure("HKDF derive") }
    return SecretBytes(copying: output)
  }
}
