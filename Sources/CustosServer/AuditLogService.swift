import CustosCrypto
import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore

/// `custos.v1.AuditLog`: appends, reads and proofs over the ledger.
struct AuditLogService: Custos_V1_AuditLog.SimpleServiceProtocol {
  let ledger: Ledger
  let idempotency: IdempotentCalls
  /// Witness cosignatures, when witnesses are configured.
  var cosignatures: WitnessCosignatures?
  /// Most events in one AppendBatch.
  static let maximumBatchEvents = 10_000
  /// Most entries read from storage per chunk while streaming.
  static let streamChunk: UInt64 = 512
  /// A chunk ends once its entries' canonical bytes reach this: what one stream that is not read may
  /// hold in memory, whatever the size of the entries (README, "Limits").
  static let streamChunkBytes = 16 << 10

  func append(request: Custos_V1_AppendRequest, context: ServerContext) async throws -> Custos_V1_AppendResponse {
    try await RPCErrors.mapping {
      guard request.hasEvent else { throw LedgerError.invalidArgument("event: required") }
      let event = try Self.event(request.event)
      let key = try await idempotency.prepare(request, method: "Append")
      if let stored = try await idempotency.storedAnswer(key) { return .with { $0.receipt = Self.receipt(stored.receipts[0]) } }
      let receipts = try await idempotency.append([try IdempotentCalls.recording(event, key: key)], key) { [] }.receipts
      return .with { $0.receipt = Self.receipt(receipts[0]) }
    }
  }

  func appendBatch(request: Custos_V1_AppendBatchRequest, context: ServerContext) async throws -> Custos_V1_AppendBatchResponse {
    try await RPCErrors.mapping {
      guard !request.events.isEmpty else { throw LedgerError.invalidArgument("events: at least one is required") }
      guard request.events.count <= Self.maximumBatchEvents else {
        throw LedgerError.invalidArgument("events: \(request.events.count) exceeds the limit of \(Self.maximumBatchEvents) per batch")
      }
      var events: [LedgerEvent] = []
      for (i, event) in request.events.enumerated() {
        do { events.append(try Self.event(event)) } catch let LedgerError.invalidArgument(why) {
          throw LedgerError.invalidArgument("events[\(i)]: \(why)")
        }
      }
      let key = try await idempotency.prepare(request, method: "AppendBatch")
      if let stored = try await idempotency.storedAnswer(key) { return .with { $0.receipts = stored.receipts.map(Self.receipt) } }
      let receipts = try await idempotency.append(try events.map { try IdempotentCalls.recording($0, key: key) }, key) { [] }.receipts
      return .with { $0.receipts = receipts.map(Self.receipt) }
    }
  }

  func getEntries(request: Custos_V1_GetEntriesRequest, response: RPCWriter<Custos_V1_Entry>, context: ServerContext) async throws {
    try await RPCErrors.mapping {
      let size = try await ledger.freshestCheckpointSize()
      let end = request.end == 0 ? size : request.end
      guard request.start <= end else { throw LedgerError.outOfRange("start \(request.start) is after end \(end)") }
      guard end <= size else { throw LedgerError.outOfRange("end \(end) is beyond the log size \(size)") }
      var cursor = request.start
      while cursor < end {
        let chunkEnd = min(end, cursor + Self.streamChunk)
        var chunk: [Custos_V1_Entry] = []
        var chunkBytes = 0
        let first = cursor
        try ledger.entries(from: first, to: chunkEnd, size: size) { stored in
          guard stored.index == first + UInt64(chunk.count) else {
            throw LedgerError.corrupted(index: first + UInt64(chunk.count), reason: "entry is missing from storage")
          }
          chunk.append(Self.entry(stored))
          chunkBytes += stored.canonical.count
          return chunkBytes < Self.streamChunkBytes
        }
        guard chunk.count == Int(chunkEnd - cursor) || chunkBytes >= Self.streamChunkBytes else {
          throw LedgerError.corrupted(index: cursor + UInt64(chunk.count), reason: "entry is missing from storage")
        }
        try await response.writeChunk(contentsOf: chunk)
        cursor += UInt64(chunk.count)
      }
    }
  }

  func query(request: Custos_V1_QueryRequest, response: RPCWriter<Custos_V1_Entry>, context: ServerContext) async throws {
    try await RPCErrors.mapping {
      guard request.limit <= UInt32(LedgerQuery.maximumLimit) else {
        throw LedgerError.invalidArgument("limit must be 1-\(LedgerQuery.maximumLimit) (0 means 100), got \(request.limit)")
      }
      guard request.timeFromUnixNano >= 0, request.timeToUnixNano >= 0 else {
        throw LedgerError.invalidArgument("time bounds must be non-negative nanoseconds since the epoch")
      }
      func filter(_ s: String) -> String? { s.isEmpty ? nil : s }
      let query = LedgerQuery(
        timeFrom: request.timeFromUnixNano == 0 ? nil : request.timeFromUnixNano,
        timeTo: request.timeToUnixNano == 0 ? nil : request.timeToUnixNano,
        kind: filter(request.kind), actor: filter(request.actor), action: filter(request.action),
        resource: filter(request.resource), outcome: filter(request.outcome),
        startIndex: request.startIndex, limit: request.limit == 0 ? 100 : Int(request.limit))
      try await response.write(contentsOf: try ledger.query(query).map(Self.entry))
    }
  }

  func getCheckpoint(request: Custos_V1_GetCheckpointRequest, context: ServerContext) async throws -> Custos_V1_Checkpoint {
    try await RPCErrors.mapping {
      guard let signed = try await ledger.freshestCheckpoint() else {
        throw RPCError(code: .failedPrecondition, message: "the ledger is empty: no checkpoint has been signed yet")
      }
      return .with {
        $0.origin = signed.checkpoint.origin
        $0.size = signed.checkpoint.size
        $0.rootHash = Data(signed.checkpoint.rootHash.bytes)
        // The witnesses' cosignatures follow the log's signature, as further note signature lines.
        $0.signedNote = signed.note + (cosignatures?.lines(for: signed.checkpoint.size).joined() ?? "")
      }
    }
  }

  func getInclusionProof(request: Custos_V1_GetInclusionProofRequest, context: ServerContext) async throws -> Custos_V1_InclusionProof {
    try await RPCErrors.mapping {
      let size = try await ledger.freshestCheckpointSize()
      let treeSize = request.treeSize == 0 ? size : request.treeSize
      let proof = try ledger.inclusionProof(index: request.index, treeSize: treeSize, checkpointSize: size)
      return .with {
        $0.index = proof.index
        $0.treeSize = proof.treeSize
        $0.leafHash = Data(proof.leafHash.bytes)
        $0.hashes = proof.hashes.map { Data($0.bytes) }
        $0.rootHash = Data(proof.rootHash.bytes)
      }
    }
  }

  func getConsistencyProof(request: Custos_V1_GetConsistencyProofRequest, context: ServerContext) async throws -> Custos_V1_ConsistencyProof {
    try await RPCErrors.mapping {
      let size = try await ledger.freshestCheckpointSize()
      let newSize = request.newSize == 0 ? size : request.newSize
      let proof = try ledger.consistencyProof(oldSize: request.oldSize, newSize: newSize, checkpointSize: size)
      return .with {
        $0.oldSize = proof.oldSize
        $0.newSize = proof.newSize
        $0.hashes = proof.hashes.map { Data($0.bytes) }
        $0.oldRootHash = Data(proof.oldRootHash.bytes)
        $0.newRootHash = Data(proof.newRootHash.bytes)
      }
    }
  }

  func verify(request: Custos_V1_VerifyRequest, response: RPCWriter<Custos_V1_VerifyProgress>, context: ServerContext) async throws {
    try await RPCErrors.mapping {
      let verifier = LedgerVerifier(storage: ledger.storage, verifier: try knownVerifier())
      let (progress, continuation) = AsyncStream.makeStream(of: (UInt64, UInt64).self, bufferingPolicy: .bufferingNewest(1))
      let start = request.start, end = request.end == 0 ? nil : request.end
      async let report = BlockingWork.run {
        defer { continuation.finish() }
        return try verifier.verify(start: start, end: end) { done, total in continuation.yield((done, total)) }
      }
      for await (done, total) in progress {
        try await response.write(.with { $0.verified = done; $0.total = total })
      }
      let result = try await report
      try await response.write(.with { message in
        message.verified = result.checked
        message.total = result.checked
        message.result = .with {
          $0.ok = result.ok
          $0.checked = result.checked
          if let failure = result.failure {
            $0.firstBadIndex = failure.index
            $0.reason = failure.reason
          }
          if let checkpoint = result.checkpoint {
            $0.checkpointSize = checkpoint.size
            $0.checkpointRootHash = Data(checkpoint.rootHash.bytes)
          }
        }
      })
    }
  }

  func getVerifierKey(request: Custos_V1_GetVerifierKeyRequest, context: ServerContext) async throws -> Custos_V1_VerifierKey {
    let verifier = try knownVerifier()
    return .with {
      $0.verifierKey = verifier.verifierKey
      $0.origin = verifier.name
      $0.publicKey = Data(verifier.publicKey.rawRepresentation)
    }
  }

  /// The ledger's verifier key; a new deployment has none until its root key is initialized.
  private func knownVerifier() throws -> NoteVerifier {
    guard let verifier = ledger.verifier else {
      throw RPCError(code: .unavailable, message: "the ledger has no signing key yet: initialize the root key (custos operator init)")
    }
    return verifier
  }

  // MARK: - Conversions

  static func event(_ message: Custos_V1_AuditEvent) throws(LedgerError) -> LedgerEvent {
    LedgerEvent(
      kind: message.kind, actor: message.actor, action: message.action, resource: message.resource,
      outcome: message.outcome, details: try LedgerEvent.parseDetails([UInt8](message.details)))
  }

  static func receipt(_ receipt: LedgerReceipt) -> Custos_V1_Receipt {
    .with {
      $0.index = receipt.index
      $0.leafHash = Data(receipt.leafHash.bytes)
      $0.timeUnixNano = receipt.time
    }
  }

  static func entry(_ stored: StoredEntry) -> Custos_V1_Entry {
    .with {
      $0.index = stored.index
      $0.canonical = Data(stored.canonical)
      $0.leafHash = Data(stored.leafHash.bytes)
      $0.timeUnixNano = stored.time
      $0.kind = stored.kind
      $0.actor = stored.actor
      $0.action = stored.action
      $0.resource = stored.resource
      $0.outcome = stored.outcome
    }
  }
}
