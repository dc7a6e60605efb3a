import GRPCCore
import Synchronization

/// Adds `authorization: Bearer <token>` to every request but IssueToken (which gets the token), with
/// the token the client holds or issues now. Requests that carry their own authorization keep it.
final class BearerTokenInterceptor: ClientInterceptor, Sendable {
  /// The client whose token is sent; weak, since the client owns the connections that own this.
  let source = Mutex<WeakClient>(WeakClient())

  struct WeakClient {
    weak var client: CustosClient?
  }

  static let unauthenticated: Set<String> = ["custos.v1.Tokens/IssueToken", "grpc.health.v1.Health/Check"]

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>, context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    guard !Self.unauthenticated.contains(context.descriptor.fullyQualifiedMethod), request.metadata[stringValues: "authorization"].first(where: { _ in true }) == nil,
      let client = source.withLock({ $0.client }), let token = try await client.bearerToken()
    else { return try await next(request, context) }
    var request = request
    request.metadata.addString("Bearer \(token)", forKey: "authorization")
    return try await next(request, context)
  }
}
