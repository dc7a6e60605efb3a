import CustosProtocol
import Foundation
import GRPCCore

extension CustosClient {
  /// Appends one event; retried safely under one idempotency key (given, or made by the client).
  public func append(_ event: Custos_V1_AuditEvent, idempotencyKey: String? = nil) async throws -> Custos_V1_Receipt {
    let request = Custos_V1_AppendRequest.with {
      $0.event = event
      $0.idempotencyKey = self.idempotencyKey(idempotencyKey)
    }
    return try await call(.mutation(idempotent: !request.idempotencyKey.isEmpty)) { attempt in
      try await attempt.auditLog.append(request, metadata: attempt.metadata, options: attempt.options).receipt
    }
  }

  /// Appends events atomically, in order; retried safely under one idempotency key.
  public func appendBatch(_ events: [Custos_V1_AuditEvent], idempotencyKey: String? = nil) async throws -> [Custos_V1_Receipt] {
    let request = Custos_V1_AppendBatchRequest.with {
      $0.events = events
      $0.idempotencyKey = self.idempotencyKey(idempotencyKey)
    }
    return try await call(.mutation(idempotent: !request.idempotencyKey.isEmpty)) { attempt in
      try await attempt.auditLog.appendBatch(request, metadata: attempt.metadata, options: attempt.options).receipts
    }
  }

  /// Appends one event and proves it was recorded: the receipt's inclusion in a checkpoint signed by
  /// the pinned verifier key, checked here (see `verify(_:)`).
  public func appendVerified(_ event: Custos_V1_AuditEvent, idempotencyKey: String? = nil) async throws -> VerifiedReceipt {
    try await verify(try await append(event, idempotencyKey: idempotencyKey))
  }

  /// The latest signed checkpoint.
  public func checkpoint() async throws -> Custos_V1_Checkpoint {
    try await call(.read) { attempt in try await attempt.auditLog.getCheckpoint(.init(), metadata: attempt.metadata, options: attempt.options) }
  }

  /// The inclusion proof of entry `index` in the tree of `treeSize` entries (0: the latest checkpoint).
  public func inclusionProof(index: UInt64, treeSize: UInt64 = 0) async throws -> Custos_V1_InclusionProof {
    try await call(.read) { attempt in
      try await attempt.auditLog.getInclusionProof(
        .with { $0.index = index; $0.treeSize = treeSize }, metadata: attempt.metadata, options: attempt.options)
    }
  }

  /// The consistency proof between two tree sizes.
  public func consistencyProof(oldSize: UInt64, newSize: UInt64 = 0) async throws -> Custos_V1_ConsistencyProof {
    try await call(.read) { attempt in
      try await attempt.auditLog.getConsistencyProof(
        .with { $0.oldSize = oldSize; $0.newSize = newSize }, metadata: attempt.metadata, options: attempt.options)
    }
  }

  /// Entries `[start, end)` (end 0: up to the latest checkpoint), as stored.
  public func entries(from start: UInt64, to end: UInt64 = 0) async throws -> [Custos_V1_Entry] {
    try await call(.read) { attempt in
      try await attempt.auditLog.getEntries(.with { $0.start = start; $0.end = end }, metadata: attempt.metadata, options: attempt.options) {
        try await $0.messages.reduce(into: []) { $0.append($1) }
      }
    }
  }

  /// Entries matching `query` (one page; page on with `start_index`).
  public func query(_ query: Custos_V1_QueryRequest) async throws -> [Custos_V1_Entry] {
    try await call(.read) { attempt in
      try await attempt.auditLog.query(query, metadata: attempt.metadata, options: attempt.options) {
        try await $0.messages.reduce(into: []) { $0.append($1) }
      }
    }
  }

  /// The ledger's verifier key as the node states it (pin it from a trusted source instead).
  public func verifierKey() async throws -> String {
    try await call(.read) { attempt in
      try await attempt.auditLog.getVerifierKey(.init(), metadata: attempt.metadata, options: attempt.options).verifierKey
    }
  }
}
