import CustosCrypto

/// Who retried what: an idempotency key is scoped to the caller that sent it.
public struct IdempotencyKey: Hashable, Sendable, CustomStringConvertible {
  public let caller: String
  public let key: String

  public init(caller: String, key: String) {
    self.caller = caller
    self.key = key
  }

  public var description: String { "idempotency_key \"\(key)\"" }
}

/// What a request carrying an idempotency key asks to be kept with its entries, in the same transaction:
/// a keyed fingerprint of the request (to tell a retry from a different request under the same key) and
/// the answer to give a retry. The answer holds no secret (a data key's plaintext is re-derived from its
/// ciphertext on a retry, never stored).
public struct IdempotencyClaim: Sendable {
  public let key: IdempotencyKey
  public let fingerprint: SHA256Digest
  public let response: [UInt8]
  /// Nanoseconds since the epoch after which the key may be used afresh (and is pruned).
  public let expiresAt: Int64

  public init(key: IdempotencyKey, fingerprint: SHA256Digest, response: [UInt8], expiresAt: Int64) {
    self.key = key
    self.fingerprint = fingerprint
    self.response = response
    self.expiresAt = expiresAt
  }
}

/// A stored idempotency key: the claim and where its entries landed.
public struct IdempotencyRecord: Sendable, Equatable {
  public let key: IdempotencyKey
  public let fingerprint: SHA256Digest
  public let response: [UInt8]
  public let expiresAt: Int64
  /// The first of the request's entries and how many it recorded.
  public let firstIndex: UInt64
  public let entryCount: UInt32

  public init(key: IdempotencyKey, fingerprint: SHA256Digest, response: [UInt8], expiresAt: Int64, firstIndex: UInt64, entryCount: UInt32) {
    self.key = key
    self.fingerprint = fingerprint
    self.response = response
    self.expiresAt = expiresAt
    self.firstIndex = firstIndex
    self.entryCount = entryCount
  }

  /// Whether the key still answers retries at `time` (nanoseconds since the epoch).
  public func isLive(at time: Int64) -> Bool { expiresAt > time }
}

/// What an append with an idempotency key came to.
public enum AppendOutcome: Sendable {
  /// Recorded now: the receipts of its entries.
  case recorded([LedgerReceipt])
  /// Recorded before under the same key (by this node or another): the stored record and the receipts
  /// of the entries it recorded then. Nothing new was written. The caller compares fingerprints.
  case replayed(IdempotencyRecord, [LedgerReceipt])
}
