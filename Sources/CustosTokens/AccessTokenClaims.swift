import CustosJSON

/// The claims of a Custos access token (RFC 9068 JWT profile for OAuth 2.0 access tokens).
public struct AccessTokenClaims: Sendable, Equatable {
  public var issuer: String
  /// The client id: the Cedar principal is `Service::"<subject>"`.
  public var subject: String
  public var audience: String
  /// Seconds since the epoch (JWT NumericDate).
  public var expiresAt: Int64
  public var issuedAt: Int64
  public var notBefore: Int64
  /// Unique token id, for revocation.
  public var id: String
  public var clientID: String
  /// Cedar entity uids, e.g. `Role::"payments"`.
  public var roles: [String]
  public var scope: String

  public init(
    issuer: String, subject: String, audience: String, expiresAt: Int64, issuedAt: Int64, notBefore: Int64, id: String,
    clientID: String, roles: [String], scope: String
  ) {
    self.issuer = issuer
    self.subject = subject
    self.audience = audience
    self.expiresAt = expiresAt
    self.issuedAt = issuedAt
    self.notBefore = notBefore
    self.id = id
    self.clientID = clientID
    self.roles = roles
    self.scope = scope
  }

  var json: JSONValue {
    var members: [String: JSONValue] = [
      "iss": .string(issuer), "sub": .string(subject), "aud": .string(audience), "exp": .integer(expiresAt),
      "iat": .integer(issuedAt), "nbf": .integer(notBefore), "jti": .string(id), "client_id": .string(clientID),
      "roles": .array(roles.map { .string($0) }),
    ]
    if !scope.isEmpty { members["scope"] = .string(scope) }
    return .object(members)
  }

  init(json bytes: [UInt8]) throws(TokenError) {
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch { throw .malformed("claims are not JSON") }
    guard let object = value.objectValue else { throw .malformed("claims are not a JSON object") }
    func string(_ key: String) throws(TokenError) -> String {
      guard let text = object[key]?.stringValue else { throw .malformed("claim \(key) is missing or not a string") }
      return text
    }
    func integer(_ key: String) throws(TokenError) -> Int64 {
      guard let number = object[key]?.integerValue else { throw .malformed("claim \(key) is missing or not an integer") }
      return number
    }
    // RFC 7519 allows an array audience; Custos issues one and accepts either.
    let audience: String
    switch object["aud"] {
    case let .string(text)?: audience = text
    case let .array(items)? where items.count == 1 && items[0].stringValue != nil: audience = items[0].stringValue!
    default: throw .malformed("claim aud is missing or not one string")
    }
    var roles: [String] = []
    if case let .array(items)? = object["roles"] {
      for item in items {
        guard let role = item.stringValue else { throw .malformed("claim roles holds a non-string") }
        roles.append(role)
      }
    }
    self.init(
      issuer: try string("iss"), subject: try string("sub"), audience: audience, expiresAt: try integer("exp"),
      issuedAt: try integer("iat"), notBefore: try integer("nbf"), id: try string("jti"), clientID: try string("client_id"),
      roles: roles, scope: object["scope"]?.stringValue ?? "")
  }
}
