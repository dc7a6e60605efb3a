/// A 32-byte SHA-256 output, stored inline (no heap allocation), comparable and hashable.
public struct SHA256Digest: Hashable, Sendable, RawBytes, CustomStringConvertible {
  /// The number of bytes in a digest.
  public static let byteCount = 32

  // Four words keep the value inline and make equality four compares.
  private var words: (UInt64, UInt64, UInt64, UInt64)

  /// The all-zero digest (used as `prev` of the first ledger entry).
  public static let zero = SHA256Digest(words: (0, 0, 0, 0))

  private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

  /// A digest from exactly 32 bytes; nil for any other length.
  public init?(bytes: some RawBytes) {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    let ok = bytes.withUnsafeBytes { source -> Bool in
      guard source.count == SHA256Digest.byteCount else { return false }
      Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: source) }
      return true
    }
    guard ok else { return nil }
    self.words = words
  }

  /// A digest from its 32 bytes loaded as four little-endian words: byte 0 is the low byte of `words.0`.
  public init(littleEndianWords words: (UInt64, UInt64, UInt64, UInt64)) {
    self.words = (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian, words.3.littleEndian)
  }

  /// A digest from 64 hex digits; nil otherwise.
  public init?(hex: some StringProtocol) {
    guard let bytes = Hex.decode(hex) else { return nil }
    self.init(bytes: bytes)
  }

  /// Builds a digest by letting `body` write its 32 bytes.
  @inlinable
  public static func filling(_ body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> SHA256Digest {
    var digest = SHA256Digest.zero
    try digest.withUnsafeMutableBytes(body)
    return digest
  }

  @usableFromInline
  mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try Swift.withUnsafeMutableBytes(of: &words, body)
  }

  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try Swift.withUnsafeBytes(of: words, body)
  }

  /// The digest as a byte array.
  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  /// Lowercase hex, 64 characters.
  public var hex: String { withUnsafeBytes { Hex.encode($0) } }

  public var description: String { hex }

  public static func == (a: SHA256Digest, b: SHA256Digest) -> Bool {
    a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(words.0)
    hasher.combine(words.1)
    hasher.combine(words.2)
    hasher.combine(words.3)
  }
}
