import CustosCrypto
import CustosJSON
import CustosLedger
import CustosProtocol
import GRPCCore
import SwiftProtobuf
import Synchronization

/// Idempotency keys at the edge: a request carrying `idempotency_key` is recorded once per (caller, key)
/// within the window; a retry gets the first answer — the same receipts, decision or ciphertext — and
/// records nothing; the same key with another request is refused with FAILED_PRECONDITION.
final class IdempotentCalls: Sendable {
  let ledger: Ledger
  /// How long a key answers retries, in nanoseconds.
  let window: Int64
  /// Keys of mutations running on this node (a repeat waits for the first; see `exclusively`).
  private let running = Mutex<Set<IdempotencyKey>>([])
  /// The answers this node recorded lately, so a retry is answered without touching the store. A key
  /// not here may still be stored (by another node, or before a restart): the append finds it.
  private let recent = Mutex(RecentAnswers(capacity: 65_536))

  init(ledger: Ledger, window: Int64) {
    self.ledger = ledger
    self.window = window
  }

  static let longestKey = 128

  /// One request's key: validated, scoped to its caller, the request fingerprinted.
  struct Prepared: Sendable {
    let key: IdempotencyKey
    let fingerprint: SHA256Digest
    let expiresAt: Int64

    func claim(response: [UInt8]) -> IdempotencyClaim {
      IdempotencyClaim(key: key, fingerprint: fingerprint, response: response, expiresAt: expiresAt)
    }
  }

  /// The key's text, or INVALID_ARGUMENT naming what is wrong with it.
  static func validate(_ text: String, field: String = "idempotency_key") throws -> String? {
    guard !text.isEmpty else { return nil }
    let bytes = text.utf8
    guard bytes.count <= longestKey else {
      throw RPCError(code: .invalidArgument, message: "\(field): \(bytes.count) bytes, over the limit of \(longestKey) (send a UUID)")
    }
    guard bytes.allSatisfy({ (0x21...0x7e).contains($0) }) else {
      throw RPCError(code: .invalidArgument, message: "\(field): only printable ASCII without spaces is allowed (send a UUID)")
    }
    return text
  }

  /// The caller a key belongs to: the authenticated principal (every unauthenticated caller shares one
  /// scope, since a retry comes from another connection).
  static func caller() -> String {
    CallerIdentity.current?.principal ?? "unauthenticated"
  }

  /// Prepares `request`'s key (nil when it carries none): the fingerprint covers the request without
  /// its key field, and `method`, so one method's key never answers another.
  func prepare<Request: IdempotencyKeyed>(_ request: Request, method: String) async throws -> Prepared? {
    guard let key = try Self.validate(request.idempotencyKey) else { return nil }
    var fingerprinted = request
    fingerprinted.idempotencyKey = ""
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    var bytes = Array(method.utf8) + [0]
    bytes += try fingerprinted.serializedBytes(partial: true, options: options) as [UInt8]
    defer { SecretBytes.wipe(&bytes) }  // an Encrypt request holds a plaintext
    let fingerprint = try RPCErrors.mapping { try ledger.requestFingerprint(bytes) }
    return Prepared(key: IdempotencyKey(caller: Self.caller(), key: key), fingerprint: fingerprint, expiresAt: wallClockNanoseconds() + window)
  }

  /// Runs `body` alone among the requests with `prepared`'s key on this node: a change that is not an
  /// append (a keyring rotated) must not run twice because a retry arrived while the first ran.
  func exclusively<T: Sendable>(_ prepared: Prepared?, _ body: () async throws -> T) async throws -> T {
    guard let key = prepared?.key else { return try await body() }
    while !running.withLock({ $0.insert(key).inserted }) { try await Task.sleep(for: .milliseconds(5)) }
    defer { _ = running.withLock { $0.remove(key) } }
    return try await body()
  }

  /// The first answer when `prepared` is a retry of a request this node recorded lately: its response
  /// and receipts, from memory, so a retry costs less than the request did. (Other retries are found
  /// by the append, under the store's write lock.)
  func storedAnswer(_ prepared: Prepared?) async throws -> (response: [UInt8], receipts: [LedgerReceipt])? {
    guard let prepared else { return nil }
    let now = wallClockNanoseconds()
    guard let (record, receipts) = recent.withLock({ $0.answer(prepared.key, at: now) }) else { return nil }
    try Self.requireSameRequest(record, prepared)
    return (record.response, receipts)
  }

  /// Appends `events` with the key's claim (`response` is what a retry will be answered with). Returns
  /// the receipts and, when another request with the key was recorded first (a retry that raced the
  /// first), the response stored with it.
  func append(_ events: [LedgerEvent], _ prepared: Prepared?, response: () throws -> [UInt8]) async throws
    -> (receipts: [LedgerReceipt], storedResponse: [UInt8]?)
  {
    let claim = try prepared.map { $0.claim(response: try response()) }
    let outcome = try await RPCErrors.mapping { try await ledger.append(events, claim: claim) }
    switch outcome {
    case let .recorded(receipts):
      if let claim {
        let record = IdempotencyRecord(
          key: claim.key, fingerprint: claim.fingerprint, response: claim.response, expiresAt: claim.expiresAt,
          firstIndex: receipts.first?.index ?? 0, entryCount: UInt32(receipts.count))
        recent.withLock { $0.remember(record, receipts) }
      }
      return (receipts, nil)
    case let .replayed(record, receipts):
      if let prepared { try Self.requireSameRequest(record, prepared) }
      return (receipts, record.response)
    }
  }

  private static func requireSameRequest(_ record: IdempotencyRecord, _ prepared: Prepared) throws {
    guard record.fingerprint == prepared.fingerprint else {
      throw RPCError(
        code: .failedPrecondition,
        message: "idempotency_key \"\(prepared.key.key)\" was used for a different request (within the idempotency window): send a new key for a new request")
    }
  }

  /// `event` naming the request's key in its details (`idempotency_key`), so the log shows which
  /// entries a retried request recorded. A caller's own detail of that name must agree.
  static func recording(_ event: LedgerEvent, key prepared: Prepared?) throws -> LedgerEvent {
    guard let prepared else { return event }
    var event = event
    if let given = event.details[detailName], given != .string(prepared.key.key) {
      throw RPCError(code: .invalidArgument, message: "details.\(detailName) differs from the request's idempotency_key")
    }
    event.details[detailName] = .string(prepared.key.key)
    return event
  }

  static let detailName = "idempotency_key"
}

/// A request that may carry an idempotency key.
protocol IdempotencyKeyed: SwiftProtobuf.Message {
  var idempotencyKey: String { get set }
}

extension Custos_V1_AppendRequest: IdempotencyKeyed {}
extension Custos_V1_AppendBatchRequest: IdempotencyKeyed {}
extension Custos_V1_CheckRequest: IdempotencyKeyed {}
extension Custos_V1_BatchCheckRequest: IdempotencyKeyed {}
extension Custos_V1_EncryptRequest: IdempotencyKeyed {}
extension Custos_V1_GenerateDataKeyRequest: IdempotencyKeyed {}
extension Custos_V1_CreateKeyringRequest: IdempotencyKeyed {}
extension Custos_V1_RotateRequest: IdempotencyKeyed {}
extension Custos_V1_SetMinDecryptionVersionRequest: IdempotencyKeyed {}
extension Custos_V1_TrimRequest: IdempotencyKeyed {}
extension Custos_V1_ScheduleDestroyRequest: IdempotencyKeyed {}
extension Custos_V1_CancelDestroyRequest: IdempotencyKeyed {}
extension Custos_V1_RotateRootRequest: IdempotencyKeyed {}

/// A bounded memory of recorded answers, oldest forgotten first.
struct RecentAnswers {
  let capacity: Int
  private var answers: [IdempotencyKey: (IdempotencyRecord, [LedgerReceipt])] = [:]
  private var order: [IdempotencyKey] = []
  private var oldest = 0

  init(capacity: Int) { self.capacity = capacity }

  func answer(_ key: IdempotencyKey, at time: Int64) -> (IdempotencyRecord, [LedgerReceipt])? {
    guard let found = answers[key], found.0.isLive(at: time) else { return nil }
    return found
  }

  mutating func remember(_ record: IdempotencyRecord, _ receipts: [LedgerReceipt]) {
    if answers.updateValue((record, receipts), forKey: record.key) != nil { return }
    order.append(record.key)
    if answers.count > capacity {
      answers[order[oldest]] = nil
      oldest += 1
      if oldest > capacity {
        order.removeFirst(oldest)
        oldest = 0
      }
    }
  }
}
