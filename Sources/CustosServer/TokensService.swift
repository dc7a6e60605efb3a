import CustosCrypto
import CustosJSON
import CustosLedger
import CustosPolicy
import CustosProtocol
import CustosTokens
import Foundation
import GRPCCore

/// `custos.v1.Tokens`: client credentials → signed access tokens, the JWKS, introspection, revocation
/// and client management. Issuance and every change are recorded in the ledger (`token.*`, `client.*`);
/// secrets and tokens never are (a token is named by its `jti`).
struct TokensService: Custos_V1_Tokens.SimpleServiceProtocol {
  let tokens: TokenAuthority
  let ledger: Ledger
  let admin: AdminAuthorization
  /// Argon2id verifications of client secrets at once (each needs m=19 MiB by default).
  let argon2: ConcurrencyLimit
  /// Holds back callers whose secrets keep failing.
  let throttle: AuthenticationThrottle

  func issueToken(request: Custos_V1_IssueTokenRequest, context: ServerContext) async throws -> Custos_V1_IssueTokenResponse {
    var secretBytes = Array(request.clientSecret.utf8)
    let secret = SecretBytes(consuming: &secretBytes)
    let tokens = self.tokens
    let clientID = String(request.clientID.prefix(128))
    let peer = PeerAddress.host(of: context.remotePeer)
    let audience = request.audience.isEmpty ? tokens.options.audience : request.audience
    let throttle = self.throttle
    // Checked before queueing for Argon2id (a throttled caller costs a lookup) and again holding the
    // permit, so a burst sent at once cannot all slip past the count.
    if let refusal = throttle.admit(clientID: clientID, peer: peer, nowMilliseconds: AuthenticationThrottle.monotonicMilliseconds()) {
      throw Self.refused(refusal)
    }
    do {
      let (token, claims) = try await argon2.run {
        if let refusal = throttle.admit(clientID: clientID, peer: peer, nowMilliseconds: AuthenticationThrottle.monotonicMilliseconds()) {
          throw ThrottledAttempt(refusal: refusal)
        }
        return try tokens.issue(clientID: request.clientID, secret: secret, audience: audience, scope: request.scope)
      }
      throttle.recordSuccess(clientID: clientID)
      _ = try await record("token.issue", actor: "Service::\"\(claims.clientID)\"", resource: "token/\(claims.id)", outcome: "ok", details: [
        "client_id": .string(claims.clientID), "jti": .string(claims.id), "aud": .string(claims.audience), "exp": .integer(claims.expiresAt),
      ])
      return .with {
        $0.accessToken = token
        $0.tokenType = "Bearer"
        $0.expiresIn = claims.expiresAt - claims.issuedAt
        $0.scope = claims.scope
      }
    } catch let throttled as ThrottledAttempt {
      throw Self.refused(throttled.refusal)
    } catch let error as TokenError {
      if case .invalidClient = error {
        try await recordFailedAuthentication(clientID: clientID, peer: peer, error: error, context: context)
      } else {
        _ = try await record("token.issue", actor: Caller.of(context), resource: "client/\(clientID)", outcome: "denied", details: [
          "client_id": .string(clientID), "error": .string(error.description),
        ])
      }
      throw Self.map(error)
    } catch {
      throw Self.map(error)
    }
  }

  /// Failed client authentications are evidence (the compliance report lists them): each is recorded
  /// until its client id or peer is throttled; from then on one summary per window stands for them,
  /// so a flood of guesses cannot flood the ledger.
  private func recordFailedAuthentication(clientID: String, peer: String, error: TokenError, context: ServerContext) async throws {
    switch throttle.recordFailure(clientID: clientID, peer: peer, nowMilliseconds: AuthenticationThrottle.monotonicMilliseconds()) {
    case .recordAttempt:
      _ = try await record("token.issue", actor: Caller.of(context), resource: "client/\(clientID)", outcome: "denied", details: [
        "client_id": .string(clientID), "error": .string(error.description),
      ])
    case let .summarize(summaries):
      for summary in summaries {
        let resource = summary.scope == .clientID ? "client/\(summary.key)" : "peer/\(summary.key)"
        _ = try await record("token.throttle", actor: Caller.of(context), resource: resource, outcome: "throttled", details: [
          "scope": .string(summary.scope.rawValue), "key": .string(summary.key), "failures": .integer(Int64(summary.failures)),
          "refused_since_last_summary": .integer(Int64(summary.refusedSinceLastSummary)),
          "delay_ms": .integer(summary.delayMilliseconds),
        ])
      }
    }
  }

  func getJWKS(request: Custos_V1_GetJWKSRequest, context: ServerContext) async throws -> Custos_V1_JWKS {
    .with { $0.json = Data(tokens.jwks()) }
  }

  func introspect(request: Custos_V1_IntrospectRequest, context: ServerContext) async throws -> Custos_V1_IntrospectResponse {
    let (claims, reason) = tokens.introspect(request.token)
    return .with {
      $0.active = claims != nil
      if let claims {
        $0.claims = Data(CanonicalJSON.encode(.object([
          "active": .bool(true), "iss": .string(claims.issuer), "sub": .string(claims.subject), "aud": .string(claims.audience),
          "exp": .integer(claims.expiresAt), "iat": .integer(claims.issuedAt), "nbf": .integer(claims.notBefore),
          "jti": .string(claims.id), "client_id": .string(claims.clientID), "roles": .array(claims.roles.map { .string($0) }),
          "scope": .string(claims.scope), "token_type": .string("Bearer"),
        ])))
      } else {
        $0.reason = reason
      }
    }
  }

  func revoke(request: Custos_V1_RevokeRequest, context: ServerContext) async throws -> Custos_V1_RevokeResponse {
    let target: Revocation.Target
    let resource: String
    switch request.target {
    case let .jti(jti) where !jti.isEmpty && jti.utf8.count <= 128: (target, resource) = (.token(jti: jti), "token/\(jti)")
    case let .clientID(id) where tokens.client(id) != nil: (target, resource) = (.client(id: id), "client/\(id)")
    case .clientID: throw RPCError(code: .notFound, message: "client does not exist")
    default: throw RPCError(code: .invalidArgument, message: "target: a jti (1-128 bytes) or a client_id is required")
    }
    try await admin.require(.tokensRevoke, on: CustosResource.tokens.uid)
    let tokens = self.tokens
    do { try await BlockingWork.run { try tokens.revoke(target) } } catch { throw Self.map(error) }
    let receipt = try await record("token.revoke", actor: Caller.of(context), resource: resource, outcome: "ok")
    return .with { $0.receipt = AuditLogService.receipt(receipt) }
  }

  func createClient(request: Custos_V1_CreateClientRequest, context: ServerContext) async throws -> Custos_V1_CreateClientResponse {
    try await admin.require(.clientsCreate, on: EntityUID(type: "Client", id: request.clientID))
    for role in request.roles {
      do { _ = try PolicyParser.parseEntityUID(role) } catch {
        throw RPCError(code: .invalidArgument, message: "roles: \"\(role.prefix(100))\" is not a Cedar entity uid such as Role::\"payments\"")
      }
    }
    let tokens = self.tokens
    let created: (client: ServiceClient, secret: SecretBytes)
    do {
      created = try await argon2.run {
        try tokens.createClient(
          id: request.clientID, displayName: request.displayName, roles: request.roles, audiences: request.audiences,
          tokenTTLSeconds: request.tokenTtlSeconds == 0 ? nil : request.tokenTtlSeconds)
      }
    } catch { throw Self.map(error) }
    let receipt = try await record("client.create", actor: Caller.of(context), resource: "client/\(created.client.id)", outcome: "ok", details: [
      "roles": .array(created.client.roles.map { .string($0) }), "audiences": .array(created.client.audiences.map { .string($0) }),
    ])
    return Self.response(created.client, created.secret, receipt)
  }

  func listClients(request: Custos_V1_ListClientsRequest, context: ServerContext) async throws -> Custos_V1_ListClientsResponse {
    try await admin.require(.clientsList, on: CustosResource.clients.uid)
    return .with { $0.clients = tokens.clients().map(Self.client) }
  }

  func rotateClientSecret(request: Custos_V1_RotateClientSecretRequest, context: ServerContext) async throws -> Custos_V1_CreateClientResponse {
    try await admin.require(.clientsRotateSecret, on: EntityUID(type: "Client", id: request.clientID))
    let tokens = self.tokens
    let rotated: (client: ServiceClient, secret: SecretBytes)
    do {
      rotated = try await argon2.run {
        try tokens.rotateSecret(clientID: request.clientID, overlapSeconds: request.overlapSeconds == 0 ? nil : request.overlapSeconds)
      }
    } catch { throw Self.map(error) }
    let receipt = try await record("client.rotate_secret", actor: Caller.of(context), resource: "client/\(rotated.client.id)", outcome: "ok")
    return Self.response(rotated.client, rotated.secret, receipt)
  }

  func disableClient(request: Custos_V1_DisableClientRequest, context: ServerContext) async throws -> Custos_V1_Client {
    try await admin.require(.clientsDisable, on: EntityUID(type: "Client", id: request.clientID))
    let tokens = self.tokens
    let client: ServiceClient
    do { client = try await BlockingWork.run { try tokens.disable(clientID: request.clientID) } } catch { throw Self.map(error) }
    _ = try await record("client.disable", actor: Caller.of(context), resource: "client/\(client.id)", outcome: "ok")
    return Self.client(client)
  }

  func rotateSigningKey(request: Custos_V1_RotateSigningKeyRequest, context: ServerContext) async throws -> Custos_V1_JWKS {
    try await admin.require(.tokensRotateSigningKey, on: CustosResource.tokenSigning.uid)
    let tokens = self.tokens
    let jwks: [UInt8]
    do { jwks = try await BlockingWork.run { try tokens.rotateSigningKey() } } catch { throw Self.map(error) }
    _ = try await record("token.signing_key_rotate", actor: Caller.of(context), resource: "custos/token-signing", outcome: "ok")
    return .with { $0.json = Data(jwks) }
  }

  // MARK: Helpers

  private func record(_ kind: String, actor: String, resource: String, outcome: String, details: [String: JSONValue] = [:]) async throws -> LedgerReceipt {
    try await RPCErrors.mapping {
      try await ledger.append(LedgerEvent(kind: kind, actor: actor, action: kind, resource: resource, outcome: outcome, details: details))
    }
  }

  /// RESOURCE_EXHAUSTED with the wait, in the message and as gRPC's retry pushback (gRFC A6), which
  /// grpcio's and grpc-go's retry policies and `CustosClient` honor.
  static func refused(_ refusal: AuthenticationThrottle.Refusal) -> RPCError {
    let whom = refusal.scope == .clientID ? "client_id \"\(refusal.key)\"" : "this address (\(refusal.key))"
    let seconds = Double((refusal.retryAfterMilliseconds + 99) / 100) / 10
    return RPCError(
      code: .resourceExhausted, message: "too many failed authentications for \(whom): retry after \(seconds) s",
      metadata: ["grpc-retry-pushback-ms": "\(refusal.retryAfterMilliseconds)"])
  }

  static func map(_ error: any Error) -> RPCError {
    if let error = error as? TokenError {
      switch error {
      case .invalidClient: return RPCError(code: .unauthenticated, message: error.description)
      case .invalidArgument(let why) where why.hasPrefix("cannot load the signing key") || why.hasPrefix("cannot seal"):
        return RPCError(code: .unavailable, message: "\(why) (is the root key sealed?)")
      default: return RPCError(code: .invalidArgument, message: error.description)
      }
    }
    return RPCErrors.map(error)
  }

  static func client(_ client: ServiceClient) -> Custos_V1_Client {
    .with {
      $0.clientID = client.id
      $0.displayName = client.displayName
      $0.roles = client.roles
      $0.audiences = client.audiences
      $0.tokenTtlSeconds = client.tokenTTLSeconds
      $0.disabled = client.disabled
    }
  }

  static func response(_ client: ServiceClient, _ secret: SecretBytes, _ receipt: LedgerReceipt) -> Custos_V1_CreateClientResponse {
    .with {
      $0.client = Self.client(client)
      $0.clientSecret = secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
      $0.receipt = AuditLogService.receipt(receipt)
    }
  }
}

/// Thrown from inside the Argon2id permit when the throttle refuses a caller that was admitted while queueing.
private struct ThrottledAttempt: Error {
  let refusal: AuthenticationThrottle.Refusal
}
