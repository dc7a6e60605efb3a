import CCustosOpenSSL

/// Key material held in memory that is wiped when the last reference goes away.
///
/// It deliberately has no `description`, no `Codable`, no `String` or `Data` conversion: the only way to
/// read it is `withUnsafeBytes`, which keeps every use of a secret visible in review.
public final class SecretBytes: @unchecked Sendable {
  // @unchecked Sendable: `storage` is written only in `init` and wiped only in `deinit`, when no other
  // reference can exist; every other access is a read, so sharing across tasks cannot race.
  private let storage: UnsafeMutableRawBufferPointer

  /// Copies `bytes` into wiped-on-release storage. The caller should wipe its own copy.
  public init(copying bytes: some RawBytes) {
    storage = bytes.withUnsafeBytes { source in
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 16)
      if source.count > 0 { buffer.copyMemory(from: source) }
      return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<source.count])
    }
  }

  /// Takes ownership of `bytes`, wiping the array's storage afterwards.
  public convenience init(consuming bytes: inout [UInt8]) {
    self.init(copying: bytes)
    SecretBytes.wipe(&bytes)
  }

  /// `count` fresh random bytes from the CSPRNG.
  public static func random(count: Int) -> SecretBytes {
    var bytes = SecureRandom.bytes(count)
    return SecretBytes(consuming: &bytes)
  }

  /// The number of secret bytes.
  public var count: Int { storage.count }

  /// Lends the secret bytes to `body`; do not let the pointer escape.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(storage))
  }

  /// Overwrites an array's bytes with zeros in a way the optimizer cannot remove.
  public static func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
      if let base = buffer.baseAddress, buffer.count > 0 { OPENSSL_cleanse(base, buffer.count) }
    }
  }

  deinit {
    if let base = storage.baseAddress {
      if storage.count > 0 { OPENSSL_cleanse(base, storage.count) }
      base.deallocate()
    }
  }
}

extension SecretBytes: RawBytes {}
