import CustosCrypto
import CustosJSON

/// JSON Web Signatures in compact form with EdDSA over Ed25519 (RFC 7515, RFC 8037).
public enum JWS {
  /// `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)`, the header and payload bytes
  /// used exactly as given.
  public static func sign(header: [UInt8], payload: [UInt8], key: Ed25519.PrivateKey) -> String {
    let signingInput = Base64.encodeURL(header) + "." + Base64.encodeURL(payload)
    return signingInput + "." + Base64.encodeURL(key.signature(for: Array(signingInput.utf8)))
  }

  /// A compact JWS taken apart (nothing verified yet).
  public struct Parts: Sendable {
    public let header: [String: JSONValue]
    public let payload: [UInt8]
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    /// The `alg` header.
    public var algorithm: String { header["alg"]?.stringValue ?? "" }
    /// The `kid` header, if any.
    public var keyID: String? { header["kid"]?.stringValue }
  }

  /// Splits and decodes a compact JWS. Tokens longer than 8 KiB are refused before any decoding.
  public static func parse(_ token: String) throws(TokenError) -> Parts {
    guard token.utf8.count <= 8 * 1024 else { throw .malformed("longer than 8 KiB") }
    let pieces = token.split(separator: ".", omittingEmptySubsequences: false)
    guard pieces.count == 3 else { throw .malformed("expected three dot-separated parts") }
    guard let headerBytes = Base64.decodeURL(pieces[0]) else { throw .malformed("header is not base64url") }
    guard let payload = Base64.decodeURL(pieces[1]) else { throw .malformed("payload is not base64url") }
    guard let signature = Base64.decodeURL(pieces[2]) else { throw .malformed("signature is not base64url") }
    let header: JSONValue
    do { header = try JSONParser.parse(headerBytes) } catch { throw .malformed("header is not JSON") }
    guard let object = header.objectValue else { throw .malformed("header is not a JSON object") }
    return Parts(header: object, payload: payload, signingInput: Array((pieces[0] + "." + pieces[1]).utf8), signature: signature)
  }
}
