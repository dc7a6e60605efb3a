import CustosProtocol
import Foundation

extension CustosClient {
  /// One decision, recorded before it is answered; retried safely under one idempotency key.
  public func check(_ request: Custos_V1_CheckRequest) async throws -> Custos_V1_CheckResponse {
    var request = request
    request.idempotencyKey = idempotencyKey(request.idempotencyKey)
    let keyed = !request.idempotencyKey.isEmpty
    return try await call(.mutation(idempotent: keyed)) { attempt in
      try await attempt.authorization.check(request, metadata: attempt.metadata, options: attempt.options)
    }
  }

  /// Several decisions recorded in one group commit; retried safely under one idempotency key.
  public func batchCheck(_ requests: [Custos_V1_CheckRequest], idempotencyKey: String? = nil) async throws -> [Custos_V1_CheckResponse] {
    let request = Custos_V1_BatchCheckRequest.with {
      $0.requests = requests
      $0.idempotencyKey = self.idempotencyKey(idempotencyKey)
    }
    return try await call(.mutation(idempotent: !request.idempotencyKey.isEmpty)) { attempt in
      try await attempt.authorization.batchCheck(request, metadata: attempt.metadata, options: attempt.options).responses
    }
  }
}
