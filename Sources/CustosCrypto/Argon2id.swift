import CCustosArgon2

/// Argon2id (RFC 9106) through the reference libargon2: raw key derivation and PHC-string hashes.
///
/// Every call blocks its thread for as long as the parameters ask (tens to hundreds of milliseconds);
/// callers on the cooperative pool should run it through a bounded executor.
public enum Argon2id {
  /// Cost parameters.
  public struct Parameters: Sendable, Equatable, Codable {
    /// Memory in KiB.
    public var memoryKiB: UInt32
    /// Passes over memory.
    public var iterations: UInt32
    /// Lanes.
    public var parallelism: UInt32

    public init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) {
      self.memoryKiB = memoryKiB
      self.iterations = iterations
      self.parallelism = parallelism
    }

    /// OWASP's minimum for password storage: m=19 MiB, t=2, p=1.
    public static let owaspMinimum = Parameters(memoryKiB: 19 * 1024, iterations: 2, parallelism: 1)
    /// For sealing the root key: m=64 MiB, t=3, p=4.
    public static let rootKeySealing = Parameters(memoryKiB: 64 * 1024, iterations: 3, parallelism: 4)
  }

  /// Derives `outputLength` raw bytes. `secret` and `associatedData` are Argon2's optional K and X inputs.
  public static func deriveKey(
    password: some RawBytes, salt: some RawBytes, parameters: Parameters, outputLength: Int,
    secret: some RawBytes = [UInt8](), associatedData: some RawBytes = [UInt8]()
  ) throws(CryptoError) -> SecretBytes {
    guard outputLength >= 4, outputLength <= 1024 else {
      throw .invalidLength(what: "Argon2 output", expected: "4...1024", got: outputLength)
    }
    var output = [UInt8](repeating: 0, count: outputLength)
    defer { SecretBytes.wipe(&output) }
    var placeholder: UInt8 = 0
    let rc: Int32 = password.withUnsafeBytes { pwd in
      salt.withUnsafeBytes { saltBytes in
        secret.withUnsafeBytes { secretBytes in
          associatedData.withUnsafeBytes { ad in
            output.withUnsafeMutableBytes { out in
              withUnsafeMutablePointer(to: &placeholder) { empty in
                func mutable(_ b: UnsafeRawBufferPointer) -> UnsafeMutablePointer<UInt8>? {
                  b.count == 0 ? nil : UnsafeMutablePointer(mutating: b.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
                var context = argon2_context(
                  out: out.baseAddress!.assumingMemoryBound(to: UInt8.self), outlen: UInt32(outputLength),
                  pwd: mutable(pwd) ?? empty, pwdlen: UInt32(pwd.count),
                  salt: mutable(saltBytes) ?? empty, saltlen: UInt32(saltBytes.count),
                  secret: mutable(secretBytes), secretlen: UInt32(secretBytes.count),
                  ad: mutable(ad), adlen: UInt32(ad.count),
                  t_cost: parameters.iterations, m_cost: parameters.memoryKiB,
                  lanes: parameters.parallelism, threads: parameters.parallelism,
                  version: UInt32(ARGON2_VERSION_13.rawValue),
                  allocate_cbk: nil, free_cbk: nil, flags: 0)
                return argon2_ctx(&context, Argon2_id)
              }
            }
          }
        }
      }
    }
    guard rc == ARGON2_OK.rawValue else { throw .libraryFailure(errorMessage(rc)) }
    return SecretBytes(copying: output)
  }

  /// A PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) for `password` with a fresh 16-byte salt.
  public static func hashPassword(_ password: some RawBytes, parameters: Parameters = .owaspMinimum) throws(CryptoError) -> String {
    let salt = SecureRandom.bytes(16)
    let hashLength = 32
    let encodedLength = argon2_encodedlen(
      parameters.iterations, parameters.memoryKiB, parameters.parallelism, UInt32(salt.count), UInt32(hashLength), Argon2_id)
    var encoded = [CChar](repeating: 0, count: encodedLength)
    let rc: Int32 = password.withUnsafeBytes { pwd in
      salt.withUnsafeBytes { s in
        argon2id_hash_encoded(
          parameters.iterations, parameters.memoryKiB, parameters.parallelism,
          pwd.baseAddress, pwd.count, s.baseAddress, s.count, hashLength, &encoded, encodedLength)
      }
    }
    guard rc == ARGON2_OK.rawValue else { throw .libraryFailure(errorMessage(rc)) }
    return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// True when `password` matches the PHC string (libargon2 compares in constant time).
  /// Throws `malformedEncoding` when the string is not an Argon2id PHC string.
  public static func verifyPassword(_ password: some RawBytes, phcString: String) throws(CryptoError) -> Bool {
    guard phcString.hasPrefix("$argon2id$") else { throw .malformedEncoding("not an argon2id PHC string") }
    let rc: Int32 = password.withUnsafeBytes { pwd in
      phcString.withCString { argon2id_verify($0, pwd.baseAddress, pwd.count) }
    }
    if rc == ARGON2_OK.rawValue { return true }
    if rc == ARGON2_VERIFY_MISMATCH.rawValue { return false }
    if rc == ARGON2_DECODING_FAIL.rawValue || rc == ARGON2_INCORRECT_TYPE.rawValue {
      throw .malformedEncoding("argon2id PHC string does not decode")
    }
    throw .libraryFailure(errorMessage(rc))
  }

  private static func errorMessage(_ rc: Int32) -> String {
    String(cString: argon2_error_message(rc))
  }
}
