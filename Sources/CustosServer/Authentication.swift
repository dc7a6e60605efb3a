import CustosPolicy
import CustosTokens
import GRPCCore

/// The authenticated caller of the RPC being served (a task-local set by `AuthenticationInterceptor`).
struct CallerIdentity: Sendable {
  let claims: AccessTokenClaims

  /// The Cedar principal: `Service::"<client_id>"`.
  var principal: String { "Service::\"\(claims.clientID)\"" }

  @TaskLocal static var current: CallerIdentity?

  /// The caller as a Cedar entity: `Service::"<client_id>"`, its token's roles as parents (they replace
  /// any stored parents), its stored attributes kept.
  func entity(in store: EntityStore) -> Entity {
    let uid = EntityUID(type: "Service", id: claims.clientID)
    let roles = Set(claims.roles.compactMap { try? PolicyParser.parseEntityUID($0) })
    return Entity(uid: uid, attributes: store[uid]?.attributes ?? [:], parents: roles, tags: store[uid]?.tags ?? [:])
  }
}

/// Who is calling, for ledger entries: the token's principal, or the transport peer where no token is
/// needed (health, IssueToken, unseal) or authentication is off.
enum Caller {
  static func of(_ context: ServerContext) -> String {
    CallerIdentity.current?.principal ?? "peer:\(context.remotePeer)"
  }
}

/// Requires `authorization: Bearer <token>` on every RPC except the few that must work without one, and
/// makes the verified caller available to the handler (also inside streaming response producers).
struct AuthenticationInterceptor: ServerInterceptor {
  let tokens: TokenAuthority

  /// Methods callable without a token: health and reflection, getting a token, the public keys, and
  /// bringing a sealed or fresh server up (no token can be issued before).
  static let exempt: Set<String> = [
    "custos.v1.Tokens/IssueToken", "custos.v1.Tokens/GetJWKS", "custos.v1.Operator/Initialize", "custos.v1.Operator/Unseal",
    "custos.v1.Operator/Status",
  ]

  static func isExempt(_ method: MethodDescriptor) -> Bool {
    method.service.fullyQualifiedService.hasPrefix("grpc.health.") || method.service.fullyQualifiedService.hasPrefix("grpc.reflection.")
      || exempt.contains(method.fullyQualifiedMethod)
  }

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>, context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    if Self.isExempt(context.descriptor) { return try await next(request, context) }
    let identity = try authenticate(request.metadata)
    var response = try await CallerIdentity.$current.withValue(identity) { try await next(request, context) }
    // Streaming handlers run in the response producer, after this returns: carry the caller into it.
    if case var .success(contents) = response.accepted {
      let producer = contents.producer
      contents.producer = { writer in try await CallerIdentity.$current.withValue(identity) { try await producer(writer) } }
      response.accepted = .success(contents)
    }
    return response
  }

  func authenticate(_ metadata: Metadata) throws(RPCError) -> CallerIdentity {
    let values = Array(metadata[stringValues: "authorization"])
    guard let header = values.first else {
      throw RPCError(code: .unauthenticated, message: "missing authorization metadata: send \"authorization: Bearer <token>\" (get one with Tokens/IssueToken)")
    }
    guard values.count == 1 else { throw RPCError(code: .unauthenticated, message: "more than one authorization value") }
    let parts = header.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
      throw RPCError(code: .unauthenticated, message: "malformed authorization metadata: expected \"Bearer <token>\"")
    }
    do {
      return CallerIdentity(claims: try tokens.verify(String(parts[1])))
    } catch {
      throw RPCError(code: .unauthenticated, message: error.description)
    }
  }
}
