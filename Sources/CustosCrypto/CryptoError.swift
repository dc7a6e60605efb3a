/// Errors raised by `CustosCrypto`. Messages never contain key material or plaintext.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A key, nonce, tag or output length is outside what the primitive accepts.
  case invalidLength(what: String, expected: String, got: Int)
  /// Authentication failed: a tag, signature or password did not verify.
  case authenticationFailed
  /// A PHC string or other encoded value could not be parsed.
  case malformedEncoding(String)
  /// The underlying C library reported an internal failure.
  case libraryFailure(String)

  public var description: String {
    switch self {
    case let .invalidLength(what, expected, got): return "\(what) must be \(expected) bytes, got \(got)"
    case .authenticationFailed: return "authentication failed"
    case let .malformedEncoding(why): return "malformed encoding: \(why)"
    case let .libraryFailure(why): return "cryptographic library failure: \(why)"
    }
  }
}
