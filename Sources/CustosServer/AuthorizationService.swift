import CustosCrypto
import CustosJSON
import CustosLedger
import CustosPolicy
import CustosProtocol
import Foundation
import GRPCCore

/// `custos.v1.Authorization`: decisions from the active policy set, each durable in the ledger before
/// it is answered. If the ledger cannot record a decision the caller gets UNAVAILABLE, never an allow.
struct AuthorizationService: Custos_V1_Authorization.SimpleServiceProtocol {
  let policies: ActivePolicySet
  let ledger: Ledger
  let idempotency: IdempotentCalls
  /// Largest context plus request entities, in bytes.
  static let maximumRequestBytes = 1 << 20
  static let maximumBatch = 1000
  /// Decisions of one stream that may wait to be recorded before reading more requests pauses.
  static let streamWindow = 1024

  func check(request: Custos_V1_CheckRequest, context: ServerContext) async throws -> Custos_V1_CheckResponse {
    try await RPCErrors.mapping {
      let key = try await idempotency.prepare(request, method: "Check")
      if let stored = try await idempotency.storedAnswer(key) { return try Self.replayed(stored.response, stored.receipts[0]) }
      let decided = try decide(request, snapshot: try await policies.recordedSnapshot())
      let (receipts, storedResponse) = try await idempotency.append([try IdempotentCalls.recording(decided.event, key: key)], key) {
        try Self.withoutReceipt(decided.response(Self.noReceipt)).serializedBytes()
      }
      if let storedResponse { return try Self.replayed(storedResponse, receipts[0]) }
      return decided.response(receipts[0])
    }
  }

  func batchCheck(request: Custos_V1_BatchCheckRequest, context: ServerContext) async throws -> Custos_V1_BatchCheckResponse {
    try await RPCErrors.mapping {
      guard !request.requests.isEmpty else { throw LedgerError.invalidArgument("requests: at least one is required") }
      guard request.requests.count <= Self.maximumBatch else {
        throw LedgerError.invalidArgument("requests: \(request.requests.count) exceeds the limit of \(Self.maximumBatch) per batch")
      }
      if let i = request.requests.firstIndex(where: { !$0.idempotencyKey.isEmpty }) {
        throw LedgerError.invalidArgument("requests[\(i)].idempotency_key: a batch carries one key, in BatchCheckRequest.idempotency_key")
      }
      let key = try await idempotency.prepare(request, method: "BatchCheck")
      if let stored = try await idempotency.storedAnswer(key) { return try Self.replayedBatch(stored.response, stored.receipts) }
      let snapshot = try await policies.recordedSnapshot()
      var decided: [Decided] = []
      for (i, item) in request.requests.enumerated() {
        do { decided.append(try decide(item, snapshot: snapshot)) } catch let LedgerError.invalidArgument(why) {
          throw LedgerError.invalidArgument("requests[\(i)]: \(why)")
        }
      }
      let (receipts, storedResponse) = try await idempotency.append(try decided.map { try IdempotentCalls.recording($0.event, key: key) }, key) {
        try Custos_V1_BatchCheckResponse.with { $0.responses = decided.map { Self.withoutReceipt($0.response(Self.noReceipt)) } }.serializedBytes()
      }
      if let storedResponse { return try Self.replayedBatch(storedResponse, receipts) }
      return .with { $0.responses = zip(decided, receipts).map { $0.response($1) } }
    }
  }

  private static let noReceipt = LedgerReceipt(index: 0, leafHash: .zero, time: 0)

  private static func withoutReceipt(_ response: Custos_V1_CheckResponse) -> Custos_V1_CheckResponse {
    var response = response
    response.clearReceipt()
    return response
  }

  /// The first answer to a retried Check, with the receipt of the entry it recorded.
  private static func replayed(_ stored: [UInt8], _ receipt: LedgerReceipt) throws -> Custos_V1_CheckResponse {
    var response = try Custos_V1_CheckResponse(serializedBytes: stored)
    response.receipt = AuditLogService.receipt(receipt)
    return response
  }

  private static func replayedBatch(_ stored: [UInt8], _ receipts: [LedgerReceipt]) throws -> Custos_V1_BatchCheckResponse {
    var response = try Custos_V1_BatchCheckResponse(serializedBytes: stored)
    guard response.responses.count == receipts.count else {
      throw LedgerError.corrupted(index: receipts.first?.index ?? 0, reason: "a stored batch answer does not match its entries")
    }
    for i in response.responses.indices { response.responses[i].receipt = AuditLogService.receipt(receipts[i]) }
    return response
  }

  func checkStream(
    request: RPCAsyncSequence<Custos_V1_CheckRequest, any Error>, response: RPCWriter<Custos_V1_CheckResponse>,
    context: ServerContext
  ) async throws {
    try await RPCErrors.mapping {
      // Decisions gather while the previous group is being recorded, then go to the ledger as one
      // append and back to the caller as one write: the stream amortizes the per-call cost.
      let gathered = DecisionQueue(limit: Self.streamWindow)
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          do {
            for try await item in request {
              guard item.idempotencyKey.isEmpty else {
                throw LedgerError.invalidArgument("idempotency_key: not taken on a stream (each message is answered once); use Check or BatchCheck")
              }
              await gathered.add(try decide(item, snapshot: try await policies.recordedSnapshot()))
            }
          } catch {
            await gathered.finish()
            throw error
          }
          await gathered.finish()
        }
        group.addTask {
          while let batch = await gathered.takeAll() {
            let receipts = try await ledger.append(batch.map(\.event))
            try await response.writeChunk(contentsOf: zip(batch, receipts).map { $0.response($1) })
          }
        }
        try await group.waitForAll()
      }
    }
  }

  /// A decision made but not yet recorded.
  struct Decided: Sendable {
    let event: LedgerEvent
    let response: @Sendable (LedgerReceipt) -> Custos_V1_CheckResponse
  }

  /// Validates the request, evaluates it and prepares its ledger entry. Throws `invalidArgument`.
  func decide(_ message: Custos_V1_CheckRequest, snapshot: ActivePolicySet.Snapshot) throws -> Decided {
    guard message.context.count + message.entities.count <= Self.maximumRequestBytes else {
      throw LedgerError.invalidArgument("context and entities are \(message.context.count + message.entities.count) bytes, over the limit of \(Self.maximumRequestBytes)")
    }
    // No principal means "the caller": the token's client, with its roles as parents.
    let caller = message.hasPrincipal ? nil : CallerIdentity.current
    let principal = try caller.map { EntityUID(type: "Service", id: $0.claims.clientID) }
      ?? Self.uid(message.hasPrincipal ? message.principal : nil, "principal")
    let action = try Self.uid(message.hasAction ? message.action : nil, "action")
    let resource = try Self.uid(message.hasResource ? message.resource : nil, "resource")
    var contextJSON = JSONValue.object([:])
    if !message.context.isEmpty {
      do { contextJSON = try JSONParser.parse([UInt8](message.context)) } catch { throw LedgerError.invalidArgument("context: \(error)") }
    }
    guard contextJSON.objectValue != nil else { throw LedgerError.invalidArgument("context: must be a JSON object") }
    let context: [String: Value]
    do {
      let declared = snapshot.set.schema?.actions[action].map { Schema.AttributeType.record($0.context) }
      guard case let .record(members) = try EntityJSON.value(contextJSON, expected: declared, at: "context") else {
        throw LedgerError.invalidArgument("context: must be a JSON object")
      }
      context = members
    } catch let error as EntityJSON.Invalid {
      throw LedgerError.invalidArgument(error.description)
    }
    var entitiesJSON = JSONValue.array([])
    var entities = snapshot.set.entities
    if !message.entities.isEmpty {
      do { entitiesJSON = try JSONParser.parse([UInt8](message.entities)) } catch { throw LedgerError.invalidArgument("entities: \(error)") }
      do {
        entities = entities.merging(try EntityJSON.entities(entitiesJSON, schema: snapshot.set.schema))
      } catch {
        throw LedgerError.invalidArgument(error.description)
      }
    }
    if let caller { entities = entities.merging([caller.entity(in: entities)]) }
    let request = Request(principal: principal, action: action, resource: resource, context: context)
    // With a schema, a request it does not describe (unknown action, wrong types, a misspelt context
    // attribute) is the caller's bug: refuse it rather than decide on it.
    if let problems = snapshot.set.schema?.problems(with: request), !problems.isEmpty {
      throw LedgerError.invalidArgument("request does not match the policy set's schema: \(problems.joined(separator: "; "))")
    }
    let decision = snapshot.set.authorizer.authorize(request, entities: entities)

    func uidJSON(_ uid: EntityUID) -> JSONValue { .object(["type": .string(uid.type), "id": .string(uid.id)]) }
    let requestDigest = SHA256.hash(CanonicalJSON.encode(.object([
      "principal": uidJSON(principal), "action": uidJSON(action), "resource": uidJSON(resource),
      "context": contextJSON, "entities": entitiesJSON,
    ])))
    let hash = snapshot.set.hash.hex
    var details: [String: JSONValue] = [
      "reasons": .array(decision.reasons.map { .string($0) }),
      "errors": .array(decision.errors.map { .string($0.policy) }),
      "policy_set_hash": .string(hash),
      "request_sha256": .string(requestDigest.hex),
    ]
    if !message.requestID.isEmpty { details["request_id"] = .string(message.requestID) }
    let event = LedgerEvent(
      kind: "authz.decision", actor: principal.description, action: action.description, resource: resource.description,
      outcome: decision.outcome.rawValue, details: details)
    let set = snapshot.set
    let requestID = message.requestID
    let reasons = decision.reasons.map { id in
      Custos_V1_PolicyReason.with {
        $0.policyID = id
        $0.annotatedID = set.annotatedID(of: id) ?? ""
      }
    }
    let errors = decision.errors.map { error in
      Custos_V1_PolicyEvaluationError.with {
        $0.policyID = error.policy
        $0.annotatedID = set.annotatedID(of: error.policy) ?? ""
        $0.message = error.error.description
      }
    }
    let outcome: Custos_V1_CheckResponse.Decision = decision.outcome == .allow ? .allow : .deny
    return Decided(event: event) { receipt in
      .with {
        $0.decision = outcome
        $0.reasons = reasons
        $0.errors = errors
        $0.policySetHash = hash
        $0.receipt = AuditLogService.receipt(receipt)
        $0.requestID = requestID
      }
    }
  }

  static func uid(_ ref: Custos_V1_EntityRef?, _ field: String) throws -> EntityUID {
    guard let ref else { throw LedgerError.invalidArgument("\(field): required") }
    guard PolicyParser.isValidEntityType(ref.type) else {
      throw LedgerError.invalidArgument("\(field): entity type \"\(ref.type)\" is not a valid Cedar type name (e.g. Service or Custos::Role)")
    }
    return EntityUID(type: ref.type, id: ref.id)
  }
}

/// Decisions of one stream waiting to be recorded: `add` suspends while `limit` are waiting, `takeAll`
/// suspends until at least one is (nil once finished and drained).
actor DecisionQueue {
  private var items: [AuthorizationService.Decided] = []
  private var finished = false
  private let limit: Int
  private var taker: CheckedContinuation<Void, Never>?
  private var adders: [CheckedContinuation<Void, Never>] = []

  init(limit: Int) { self.limit = limit }

  func add(_ item: AuthorizationService.Decided) async {
    while items.count >= limit { await withCheckedContinuation { adders.append($0) } }
    items.append(item)
    taker?.resume()
    taker = nil
  }

  func finish() {
    finished = true
    taker?.resume()
    taker = nil
  }

  func takeAll() async -> [AuthorizationService.Decided]? {
    while items.isEmpty {
      if finished { return nil }
      await withCheckedContinuation { taker = $0 }
    }
    let batch = items
    items.removeAll(keepingCapacity: true)
    for adder in adders { adder.resume() }
    adders.removeAll()
    return batch
  }
}
