import CustosCrypto
import CustosJSON
import CustosKeys
import CustosLedger
import CustosPolicy
import CustosProtocol
import Foundation
import GRPCCore
import SwiftProtobuf

/// `custos.v1.Keys`: keyrings and their use. Each call is recorded in the ledger before it is answered;
/// a call whose record cannot be made durable gets UNAVAILABLE and no result.
struct KeysService: Custos_V1_Keys.SimpleServiceProtocol {
  let keys: KeyManager
  let audit: KeyAudit
  let admin: AdminAuthorization
  let idempotency: IdempotentCalls
  /// Keyrings Custos keeps for itself (token signing keys): no RPC may touch them.
  static let reservedPrefix = "custos."
  static let maximumBatch = 1000

  // MARK: Use

  func encrypt(request: Custos_V1_EncryptRequest, context: ServerContext) async throws -> Custos_V1_EncryptResponse {
    let key = try await idempotency.prepare(request, method: "Encrypt")
    if let stored = try await idempotency.storedAnswer(key) {
      return try Custos_V1_EncryptResponse(serializedBytes: stored.response).with(receipt: stored.receipts[stored.receipts.count - 1])
    }
    return try await recordedOnce(encryptOne(request.keyring, request.plaintext, request.context, caller: Caller.of(context)), key: key)
  }

  func decrypt(request: Custos_V1_DecryptRequest, context: ServerContext) async throws -> Custos_V1_DecryptResponse {
    try await recorded([decryptOne(request.keyring, request.ciphertext, request.context, caller: Caller.of(context))])[0].get()
  }

  func rewrap(request: Custos_V1_RewrapRequest, context: ServerContext) async throws -> Custos_V1_RewrapResponse {
    try await recorded([rewrapOne(request.keyring, request.ciphertext, request.context, caller: Caller.of(context))])[0].get()
  }

  func generateDataKey(request: Custos_V1_GenerateDataKeyRequest, context: ServerContext) async throws -> Custos_V1_GenerateDataKeyResponse {
    let caller = Caller.of(context)
    let key = try await idempotency.prepare(request, method: "GenerateDataKey")
    let outcome: Outcome<Custos_V1_GenerateDataKeyResponse>
    do {
      try Self.refuseReserved(request.keyring)
      let encryptionContext = try EncryptionContext(request.context)
      let generated = try keys.generateDataKey(keyring: request.keyring, context: encryptionContext)
      var details = audit.contextDetails(encryptionContext)
      details["keyring"] = .string(request.keyring)
      details["version"] = .integer(Int64(generated.encrypted.version))
      details["plaintext_returned"] = .bool(!request.wrappedOnly)
      outcome = (
        rotationEvents(generated.encrypted.rotation, caller: caller)
          + [audit.event("datakey", caller: caller, resource: KeyAudit.resource(request.keyring), outcome: "ok", details: details)],
        .success(.with {
          if !request.wrappedOnly { $0.plaintext = generated.plaintext.withUnsafeBytes { Data($0) } }
          $0.ciphertext = Data(generated.encrypted.ciphertext)
          $0.keyVersion = generated.encrypted.version
        })
      )
    } catch {
      outcome = ([failureEvent("datakey", error, caller: caller, keyring: request.keyring)], .failure(RPCErrors.map(error)))
    }
    // A retry gets the same data key: its plaintext is never stored but opened again from the ciphertext.
    let restore = { @Sendable (stored: Custos_V1_GenerateDataKeyResponse) throws -> Custos_V1_GenerateDataKeyResponse in
      guard !request.wrappedOnly else { return stored }
      var response = stored
      let opened = try keys.decrypt(keyring: request.keyring, ciphertext: [UInt8](stored.ciphertext), context: try EncryptionContext(request.context))
      response.plaintext = opened.plaintext.withUnsafeBytes { Data($0) }
      return response
    }
    if let stored = try await idempotency.storedAnswer(key) {
      return try RPCErrors.mapping { try restore(try Custos_V1_GenerateDataKeyResponse(serializedBytes: stored.response)) }
        .with(receipt: stored.receipts[stored.receipts.count - 1])
    }
    return try await recordedOnce(outcome, key: key, storing: { var copy = $0; copy.plaintext = Data(); return copy }, restoring: restore)
  }

  /// Records one call's outcome like `recorded`, claiming its idempotency key when it succeeded (a
  /// failure changed nothing, so a retry runs again). `storing` strips what must not be stored (a data
  /// key's plaintext); `restoring` gives it back to a retry that raced in and found the first answer.
  private func recordedOnce<Response: ReceiptCarrying & SwiftProtobuf.Message>(
    _ outcome: Outcome<Response>, key: IdempotentCalls.Prepared?, storing: (Response) -> Response = { $0 },
    restoring: (Response) throws -> Response = { $0 }
  ) async throws -> Response {
    guard let key, case let .success(response) = outcome.response else { return try await recorded([outcome])[0].get() }
    let events = try outcome.events.map { try IdempotentCalls.recording($0, key: key) }
    let (receipts, stored) = try await idempotency.append(events, key) {
      var kept = storing(response)
      kept.clearReceipt()
      return try kept.serializedBytes()
    }
    var answer = response
    if let stored {
      do { answer = try restoring(try Response(serializedBytes: stored)) } catch { throw RPCErrors.map(error) }
    }
    return answer.with(receipt: receipts[receipts.count - 1])
  }

  func batchEncrypt(request: Custos_V1_BatchEncryptRequest, context: ServerContext) async throws -> Custos_V1_BatchEncryptResponse {
    try Self.checkBatch(request.items.count)
    let caller = Caller.of(context)
    let results = try await recorded(request.items.map { encryptOne(request.keyring, $0.plaintext, $0.context, caller: caller) })
    return .with { $0.results = Self.items(results) }
  }

  func batchDecrypt(request: Custos_V1_BatchDecryptRequest, context: ServerContext) async throws -> Custos_V1_BatchDecryptResponse {
    try Self.checkBatch(request.items.count)
    let caller = Caller.of(context)
    let results = try await recorded(request.items.map { decryptOne(request.keyring, $0.ciphertext, $0.context, caller: caller) })
    return .with { $0.results = Self.items(results) }
  }

  func batchRewrap(request: Custos_V1_BatchRewrapRequest, context: ServerContext) async throws -> Custos_V1_BatchRewrapResponse {
    try Self.checkBatch(request.items.count)
    let caller = Caller.of(context)
    let results = try await recorded(request.items.map { rewrapOne(request.keyring, $0.ciphertext, $0.context, caller: caller) })
    return .with { $0.results = Self.items(results) }
  }

  /// The ledger events of one item (a forced rotation, then the operation) and its answer.
  typealias Outcome<Response> = (events: [LedgerEvent], response: Result<Response, RPCError>)

  /// Records every item's events in one append, then attaches each item's receipt (that of its last
  /// event). If the ledger cannot record them, no item is answered: UNAVAILABLE for the call.
  private func recorded<Response: ReceiptCarrying>(_ outcomes: [Outcome<Response>]) async throws -> [Result<Response, RPCError>] {
    // Sealed, every key operation fails and nothing can be recorded: each caller learns why it failed.
    if !(await audit.ledger.canSign), outcomes.allSatisfy({ (try? $0.response.get()) == nil }) { return outcomes.map(\.response) }
    let receipts = try await RPCErrors.mapping { try await audit.ledger.append(outcomes.flatMap(\.events)) }
    var next = 0
    return outcomes.map { outcome in
      next += outcome.events.count
      let receipt = receipts[next - 1]
      return outcome.response.map { $0.with(receipt: receipt) }
    }
  }

  // MARK: Administration

  func createKeyring(request: Custos_V1_CreateKeyringRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    try await administer("create", request.name, context, request: request, details: ["rotation_period_seconds": .integer(request.rotationPeriodSeconds)], authorize: .keysCreate) {
      try keys.createKeyring(name: request.name, rotationPeriodSeconds: request.rotationPeriodSeconds)
    }
  }

  func getKeyring(request: Custos_V1_GetKeyringRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    try Self.refuseReserved(request.name)
    let info = try RPCErrors.mapping { try keys.keyring(request.name) }
    return .with { $0.keyring = Self.keyring(info) }
  }

  func listKeyrings(request: Custos_V1_ListKeyringsRequest, context: ServerContext) async throws -> Custos_V1_ListKeyringsResponse {
    let infos = try RPCErrors.mapping { try keys.keyrings() }.filter { !$0.name.hasPrefix(Self.reservedPrefix) }
    return .with { $0.keyrings = infos.map(Self.keyring) }
  }

  func rotate(request: Custos_V1_RotateRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    try await administer("rotate", request.keyring, context, request: request, details: ["reason": .string("requested")], authorize: .keysRotate) {
      try keys.rotate(keyring: request.keyring)
    }
  }

  func setMinDecryptionVersion(request: Custos_V1_SetMinDecryptionVersionRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    try await administer("min_decryption_version", request.keyring, context, request: request, details: ["min_decryption_version": .integer(Int64(request.version))], authorize: .keysSetMinDecryptionVersion) {
      try keys.setMinDecryptionVersion(keyring: request.keyring, version: request.version)
    }
  }

  func trim(request: Custos_V1_TrimRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    try await administer("trim", request.keyring, context, request: request, details: ["min_available_version": .integer(Int64(request.minAvailableVersion))], authorize: .keysTrim) {
      try keys.trim(keyring: request.keyring, minAvailableVersion: request.minAvailableVersion)
    }
  }

  func scheduleDestroy(request: Custos_V1_ScheduleDestroyRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    let days = request.waitingDays == 0 ? KeyManager.defaultDestroyWaitingDays : Int(request.waitingDays)
    var details: [String: JSONValue] = ["waiting_days": .integer(Int64(days))]
    if request.version != 0 { details["version"] = .integer(Int64(request.version)) }
    return try await administer("destroy_schedule", request.keyring, context, request: request, details: details, authorize: .keysDestroy) {
      try keys.scheduleDestroy(keyring: request.keyring, version: request.version == 0 ? nil : request.version, waitingDays: days)
    }
  }

  func cancelDestroy(request: Custos_V1_CancelDestroyRequest, context: ServerContext) async throws -> Custos_V1_KeyringResponse {
    var details: [String: JSONValue] = [:]
    if request.version != 0 { details["version"] = .integer(Int64(request.version)) }
    return try await administer("destroy_cancel", request.keyring, context, request: request, details: details, authorize: .keysCancelDestroy) {
      try keys.cancelDestroy(keyring: request.keyring, version: request.version == 0 ? nil : request.version)
    }
  }

  /// A keyring change: run off the cooperative pool (it writes and fsyncs), recorded either way; once
  /// per idempotency key when `request` carries one (a retry gets the first answer, changes nothing).
  private func administer<Request: IdempotencyKeyed>(
    _ operation: String, _ keyring: String, _ context: ServerContext, request: Request, details: [String: JSONValue],
    authorize action: AdminAction, _ body: @escaping @Sendable () throws -> KeyringInfo
  ) async throws -> Custos_V1_KeyringResponse {
    try Self.refuseReserved(keyring)
    try await admin.require(action, on: EntityUID(type: "Keyring", id: keyring))
    let key = try await idempotency.prepare(request, method: "Keys/" + operation)
    return try await idempotency.exclusively(key) {
      if let stored = try await idempotency.storedAnswer(key) {
        return try Custos_V1_KeyringResponse(serializedBytes: stored.response).with(receipt: stored.receipts[stored.receipts.count - 1])
      }
      let once = key.map { Once<KeyringInfo>(calls: idempotency, key: $0) { info in try Custos_V1_KeyringResponse.with { $0.keyring = Self.keyring(info) }.serializedBytes() } }
      let (info, receipt) = try await audit.audited(operation, caller: Caller.of(context), keyring: keyring, details: details, once: once) {
        () async throws -> KeyringInfo in
        try await BlockingWork.run(body)
      } describe: { info in
        ["latest_version": .integer(Int64(info.latestVersion))]
      }
      return .with {
        $0.keyring = Self.keyring(info)
        if let receipt { $0.receipt = AuditLogService.receipt(receipt) }
      }
    }
  }

  // MARK: One item

  private func encryptOne(
    _ keyring: String, _ plaintext: Data, _ context: [String: String], caller: String
  ) -> Outcome<Custos_V1_EncryptResponse> {
    do {
      try Self.refuseReserved(keyring)
      let encryptionContext = try EncryptionContext(context)
      var plaintextBytes = [UInt8](plaintext)
      defer { SecretBytes.wipe(&plaintextBytes) }
      let encrypted = try keys.encrypt(keyring: keyring, plaintext: plaintextBytes, context: encryptionContext)
      var details = audit.contextDetails(encryptionContext)
      details["keyring"] = .string(keyring)
      details["version"] = .integer(Int64(encrypted.version))
      return (
        rotationEvents(encrypted.rotation, caller: caller)
          + [audit.event("encrypt", caller: caller, resource: KeyAudit.resource(keyring), outcome: "ok", details: details)],
        .success(.with {
          $0.ciphertext = Data(encrypted.ciphertext)
          $0.keyVersion = encrypted.version
        })
      )
    } catch {
      return ([failureEvent("encrypt", error, caller: caller, keyring: keyring)], .failure(RPCErrors.map(error)))
    }
  }

  private func decryptOne(
    _ keyring: String, _ ciphertext: Data, _ context: [String: String], caller: String
  ) -> Outcome<Custos_V1_DecryptResponse> {
    do {
      try Self.refuseReserved(keyring)
      let encryptionContext = try EncryptionContext(context)
      let opened = try keys.decrypt(keyring: keyring, ciphertext: [UInt8](ciphertext), context: encryptionContext)
      var details = audit.contextDetails(encryptionContext)
      details["keyring"] = .string(keyring)
      details["version"] = .integer(Int64(opened.version))
      return (
        [audit.event("decrypt", caller: caller, resource: KeyAudit.resource(keyring), outcome: "ok", details: details)],
        .success(.with {
          $0.plaintext = opened.plaintext.withUnsafeBytes { Data($0) }
          $0.keyVersion = opened.version
        })
      )
    } catch {
      return ([failureEvent("decrypt", error, caller: caller, keyring: keyring)], .failure(RPCErrors.map(error)))
    }
  }

  private func rewrapOne(
    _ keyring: String, _ ciphertext: Data, _ context: [String: String], caller: String
  ) -> Outcome<Custos_V1_RewrapResponse> {
    do {
      try Self.refuseReserved(keyring)
      let encryptionContext = try EncryptionContext(context)
      let rewrapped = try keys.rewrap(keyring: keyring, ciphertext: [UInt8](ciphertext), context: encryptionContext)
      var details = audit.contextDetails(encryptionContext)
      details["keyring"] = .string(keyring)
      details["from_version"] = .integer(Int64(rewrapped.fromVersion))
      details["version"] = .integer(Int64(rewrapped.encrypted.version))
      return (
        rotationEvents(rewrapped.encrypted.rotation, caller: caller)
          + [audit.event("rewrap", caller: caller, resource: KeyAudit.resource(keyring), outcome: "ok", details: details)],
        .success(.with {
          $0.ciphertext = Data(rewrapped.encrypted.ciphertext)
          $0.fromVersion = rewrapped.fromVersion
          $0.keyVersion = rewrapped.encrypted.version
        })
      )
    } catch {
      return ([failureEvent("rewrap", error, caller: caller, keyring: keyring)], .failure(RPCErrors.map(error)))
    }
  }

  private func failureEvent(_ operation: String, _ error: any Error, caller: String, keyring: String) -> LedgerEvent {
    let failure = KeyAudit.failure(error as? KeyError ?? .storage("\(error)"))
    var details = failure.details
    details["keyring"] = .string(keyring)
    return audit.event(operation, caller: caller, resource: KeyAudit.resource(keyring), outcome: failure.outcome, details: details)
  }

  /// A forced rotation (usage limit) made while serving the call is recorded before the call itself.
  private func rotationEvents(_ rotation: KeyManager.Rotation?, caller: String) -> [LedgerEvent] {
    guard let rotation else { return [] }
    return [KeyMaintenanceService.event(for: rotation, audit: audit, caller: caller)]
  }

  /// Internal keyrings answer as if they did not exist to callers.
  static func refuseReserved(_ keyring: String) throws(RPCError) {
    guard !keyring.hasPrefix(reservedPrefix) else {
      throw RPCError(code: .invalidArgument, message: "keyring names starting with \"\(reservedPrefix)\" are reserved for Custos itself")
    }
  }

  private static func checkBatch(_ count: Int) throws {
    guard (1...maximumBatch).contains(count) else {
      throw RPCError(code: .invalidArgument, message: "items: between 1 and \(maximumBatch) per batch, got \(count)")
    }
  }

  /// Per-item results of a batch: the answer, or the status code and message of its failure.
  private static func items<Item: BatchItemResult>(_ results: [Result<Item.Answer, RPCError>]) -> [Item] {
    results.map { result in
      var item = Item()
      switch result {
      case let .success(answer): item.ok = answer
      case let .failure(error):
        item.error = .with {
          $0.code = Int32(error.code.rawValue)
          $0.message = error.message
        }
      }
      return item
    }
  }

  static func keyring(_ info: KeyringInfo) -> Custos_V1_Keyring {
    .with {
      $0.name = info.name
      $0.createdUnixNano = info.createdAt
      $0.latestVersion = info.latestVersion
      $0.minDecryptionVersion = info.minDecryptionVersion
      $0.minAvailableVersion = info.minAvailableVersion
      $0.rotationPeriodSeconds = info.rotationPeriodSeconds
      $0.destroyAtUnixNano = info.destroyAt ?? 0
      $0.destroyed = info.destroyed
      $0.versions = info.versions.map { version in
        .with {
          $0.version = version.version
          $0.createdUnixNano = version.createdAt
          $0.encryptions = version.encryptions
          $0.destroyAtUnixNano = version.destroyAt ?? 0
          $0.destroyed = version.destroyed
        }
      }
    }
  }
}

protocol ReceiptCarrying {
  var receipt: Custos_V1_Receipt { get set }
  mutating func clearReceipt()
}

extension ReceiptCarrying {
  func with(receipt: LedgerReceipt) -> Self {
    var copy = self
    copy.receipt = AuditLogService.receipt(receipt)
    return copy
  }
}

extension Custos_V1_EncryptResponse: ReceiptCarrying {}
extension Custos_V1_KeyringResponse: ReceiptCarrying {}
extension Custos_V1_RotateRootResponse: ReceiptCarrying {}
extension Custos_V1_DecryptResponse: ReceiptCarrying {}
extension Custos_V1_RewrapResponse: ReceiptCarrying {}
extension Custos_V1_GenerateDataKeyResponse: ReceiptCarrying {}

/// One item's slot in a batch response: its answer or its error.
protocol BatchItemResult {
  associatedtype Answer
  init()
  var ok: Answer { get set }
  var error: Custos_V1_ItemError { get set }
}

extension Custos_V1_EncryptResult: BatchItemResult {}
extension Custos_V1_DecryptResult: BatchItemResult {}
extension Custos_V1_RewrapResult: BatchItemResult {}
