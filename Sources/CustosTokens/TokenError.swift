/// Why a token was refused or could not be issued. Messages never contain a secret or a whole token.
public enum TokenError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The token is not a compact JWS, or its header or claims do not decode.
  case malformed(String)
  /// `alg` is not EdDSA (no other algorithm is ever accepted, `none` least of all).
  case unsupportedAlgorithm(String)
  /// No published key has this `kid`.
  case unknownKey(String)
  case badSignature
  case expired
  case notYetValid
  case wrongAudience(String)
  case wrongIssuer(String)
  case revoked
  /// Client authentication failed (unknown client, wrong or expired secret, disabled): one message for
  /// all, so a caller cannot probe which client ids exist.
  case invalidClient
  /// The request is malformed (audience not allowed, bad TTL, ...).
  case invalidArgument(String)

  public var description: String {
    switch self {
    case let .malformed(why): return "malformed token: \(why)"
    case let .unsupportedAlgorithm(alg): return "unsupported token algorithm \"\(alg.prefix(20))\" (only EdDSA)"
    case let .unknownKey(kid): return "token signed with unknown key id \"\(kid.prefix(64))\""
    case .badSignature: return "token signature does not verify"
    case .expired: return "token expired"
    case .notYetValid: return "token not yet valid"
    case let .wrongAudience(audience): return "token is not for this audience (\(audience))"
    case let .wrongIssuer(issuer): return "token issuer is not \(issuer)"
    case .revoked: return "token revoked"
    case .invalidClient: return "invalid client credentials"
    case let .invalidArgument(why): return why
    }
  }
}
