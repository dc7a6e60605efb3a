import GRPCCore
import SwiftProtobuf

/// Refuses a request message larger than `max_request_bytes` with RESOURCE_EXHAUSTED naming the limit
/// and the size, before any handler sees it. (The transport accepts messages up to `transportLimit`,
/// a multiple of the limit, so that a caller a little over it gets this precise answer; beyond that the
/// transport resets the stream without reading it.)
struct RequestSizeLimitInterceptor: ServerInterceptor {
  let limit: Int

  /// What the transport reads at most: four times the limit, within 256 MiB.
  static func transportLimit(for limit: Int) -> Int { min(limit * 4, 256 << 20) }

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>, context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let limit = self.limit
    var checked = request
    checked.messages = RPCAsyncSequence(wrapping: request.messages.map { message in
      // Re-encoding costs about a microsecond for a typical request; it is the size the caller sent.
      if let message = message as? any SwiftProtobuf.Message, let size = try? (message.serializedBytes() as [UInt8]).count, size > limit {
        throw RPCError(
          code: .resourceExhausted,
          message: "the request message is \(size) bytes, over the limit of \(limit) bytes (max_request_bytes)")
      }
      return message
    })
    return try await next(checked, context)
  }
}
