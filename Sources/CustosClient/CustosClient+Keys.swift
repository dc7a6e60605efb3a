import CustosProtocol
import Foundation

extension CustosClient {
  /// Encrypts under `keyring`, bound to `context`; a retry gets the first ciphertext, not a second one.
  public func encrypt(
    keyring: String, plaintext: Data, context: [String: String] = [:], idempotencyKey: String? = nil
  ) async throws -> Custos_V1_EncryptResponse {
    let request = Custos_V1_EncryptRequest.with {
      $0.keyring = keyring
      $0.plaintext = plaintext
      $0.context = context
      $0.idempotencyKey = self.idempotencyKey(idempotencyKey)
    }
    return try await call(.mutation(idempotent: !request.idempotencyKey.isEmpty)) { attempt in
      try await attempt.keys.encrypt(request, metadata: attempt.metadata, options: attempt.options)
    }
  }

  /// Decrypts with the context it was encrypted under. (Recorded each time it runs: a retry after a
  /// timeout is not made, since decryptions take no idempotency key.)
  public func decrypt(keyring: String, ciphertext: Data, context: [String: String] = [:]) async throws -> Custos_V1_DecryptResponse {
    let request = Custos_V1_DecryptRequest.with {
      $0.keyring = keyring
      $0.ciphertext = ciphertext
      $0.context = context
    }
    return try await call(.mutation(idempotent: false)) { attempt in
      try await attempt.keys.decrypt(request, metadata: attempt.metadata, options: attempt.options)
    }
  }

  /// A new data key wrapped under `keyring` (and its plaintext unless `wrappedOnly`); a retry gets the
  /// same data key.
  public func generateDataKey(
    keyring: String, context: [String: String] = [:], wrappedOnly: Bool = false, idempotencyKey: String? = nil
  ) async throws -> Custos_V1_GenerateDataKeyResponse {
    let request = Custos_V1_GenerateDataKeyRequest.with {
      $0.keyring = keyring
      $0.context = context
      $0.wrappedOnly = wrappedOnly
      $0.idempotencyKey = self.idempotencyKey(idempotencyKey)
    }
    return try await call(.mutation(idempotent: !request.idempotencyKey.isEmpty)) { attempt in
      try await attempt.keys.generateDataKey(request, metadata: attempt.metadata, options: attempt.options)
    }
  }
}
