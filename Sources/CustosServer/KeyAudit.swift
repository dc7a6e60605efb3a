import CustosJSON
import CustosKeys
import CustosLedger
import GRPCCore

/// Ledger entries for key operations: `kind: key.<operation>`, the caller, the keyring as resource and
/// the outcome. Never key material, plaintext, shares, passphrases, or (unless configured) the values of
/// the encryption context.
struct KeyAudit: Sendable {
  let ledger: Ledger
  let recordContextValues: Bool

  /// The resource string of a keyring.
  static func resource(_ keyring: String) -> String { "keyring/\(keyring)" }

  func event(
    _ operation: String, caller: String, resource: String, outcome: String, details: [String: JSONValue] = [:]
  ) -> LedgerEvent {
    LedgerEvent(kind: "key.\(operation)", actor: caller, action: operation, resource: resource, outcome: outcome, details: details)
  }

  /// Details describing an encryption context: its keys (values only when configured).
  func contextDetails(_ context: EncryptionContext) -> [String: JSONValue] {
    guard !context.pairs.isEmpty else { return [:] }
    if recordContextValues { return ["context": .object(context.pairs.mapValues { .string($0) })] }
    return ["context_keys": .array(context.sortedKeys.map { .string($0) })]
  }

  /// A failed operation's outcome and details: the status code name and the (secret-free) message.
  static func failure(_ error: KeyError) -> (outcome: String, details: [String: JSONValue]) {
    let code = RPCErrors.code(of: error)
    return ("error", ["code": .string("\(code)"), "error": .string(error.description)])
  }

  /// Records an operation that ran (successfully or not) and returns the receipt; if the ledger
  /// cannot record it, the caller gets UNAVAILABLE instead of the result.
  func record(_ event: LedgerEvent) async throws -> LedgerReceipt {
    try await ledger.append(event)
  }

  /// Runs `body` (a key operation); records success with `describe`'s details or the failure with its
  /// message, then answers. A failure is rethrown after it is recorded.
  ///
  /// While the ledger key is sealed nothing can be recorded: an operation that leaves it sealed (a wrong
  /// passphrase, one share of several) is answered unrecorded (receipt nil) since it changed nothing;
  /// the unseal that completes is recorded.
  ///
  /// With `once` (a request carrying an idempotency key), success is recorded with the key's claim and
  /// the answer a retry gets.
  func audited<T: Sendable>(
    _ operation: String, caller: String, keyring: String?, details: [String: JSONValue] = [:], once: Once<T>? = nil,
    _ body: () async throws -> T, describe: (T) -> [String: JSONValue] = { _ in [:] }
  ) async throws -> (result: T, receipt: LedgerReceipt?) {
    let resource = keyring.map(Self.resource) ?? "custos/root-key"
    var base = details
    if let keyring { base["keyring"] = .string(keyring) }
    do {
      let result = try await body()
      guard await ledger.canSign else { return (result, nil) }
      let succeeded = event(operation, caller: caller, resource: resource, outcome: "ok", details: base.merging(describe(result)) { $1 })
      if let once {
        let recorded = try await once.calls.append([try IdempotentCalls.recording(succeeded, key: once.key)], once.key) { try once.answer(result) }
        return (result, recorded.receipts.last)
      }
      let receipt = try await record(succeeded)
      return (result, receipt)
    } catch {
      guard await ledger.canSign else { throw RPCErrors.map(error) }
      let failure = Self.failure(error as? KeyError ?? .storage("\(error)"))
      _ = try await record(event(operation, caller: caller, resource: resource, outcome: failure.outcome, details: base.merging(failure.details) { $1 }))
      throw RPCErrors.map(error)
    }
  }
}

/// How an audited change with an idempotency key is recorded: its key and the answer a retry gets.
struct Once<T>: Sendable {
  let calls: IdempotentCalls
  let key: IdempotentCalls.Prepared
  let answer: @Sendable (T) throws -> [UInt8]
}
