import CustosCrypto
import CustosJSON
import CustosKeys
import CustosLedger
import CustosPolicy
import CustosProtocol
import CustosTokens
import Foundation
import GRPCCore

/// `custos.v1.Operator`: initialize, unseal, seal and rotate the root key. Each change is recorded in the
/// ledger (kind `key.root_init`, `key.unseal`, `key.seal`, `key.root_rotate`); passphrases and shares never are.
struct OperatorService: Custos_V1_Operator.SimpleServiceProtocol {
  let keys: KeyManager
  let tokens: TokenAuthority
  let audit: KeyAudit
  /// Gives the ledger its sealed signing key once the root key is unsealed, and takes it back on seal.
  let custody: LedgerKeyCustody
  let idempotency: IdempotentCalls
  let backups: BackupService
  let admin: AdminAuthorization
  /// Argon2id at sealing strength takes 64 MiB and a few hundred milliseconds: one at a time.
  let argon2: ConcurrencyLimit

  func initialize(request: Custos_V1_InitializeRequest, context: ServerContext) async throws -> Custos_V1_InitializeResponse {
    let keys = self.keys
    switch request.method {
    case let .passphrase(data):
      var bytes = [UInt8](data)
      let passphrase = SecretBytes(consuming: &bytes)
      let (id, receipt) = try await audit.audited("root_init", caller: Caller.of(context), keyring: nil, details: ["method": .string("passphrase")]) {
        () async throws -> String in
        let id = try await Self.blocking(argon2) { try keys.initialize(passphrase: passphrase) }
        try await custody.unlock(keys)
        return id
      } describe: { ["root_key_id": .string($0)] }
      let admin = try await firstAdmin(context)
      return .with {
        $0.rootKeyID = id
        if let receipt { $0.receipt = AuditLogService.receipt(receipt) }
        $0.adminClientID = admin.id
        $0.adminClientSecret = admin.secret
      }
    case let .shamir(split):
      let details: [String: JSONValue] = [
        "method": .string("shamir"), "shares": .integer(Int64(split.shares)), "threshold": .integer(Int64(split.threshold)),
      ]
      let (result, receipt) = try await audit.audited("root_init", caller: Caller.of(context), keyring: nil, details: details) {
        () async throws -> (rootKeyID: String, shares: [String]) in
        let made = try await Self.blocking(argon2) { try keys.initialize(shares: Int(split.shares), threshold: Int(split.threshold)) }
        try await custody.unlock(keys)
        return (made.rootKeyID, made.shares.map(\.text))
      } describe: { ["root_key_id": .string($0.rootKeyID)] }
      let admin = try await firstAdmin(context)
      return .with {
        $0.rootKeyID = result.rootKeyID
        $0.shares = result.shares
        if let receipt { $0.receipt = AuditLogService.receipt(receipt) }
        $0.adminClientID = admin.id
        $0.adminClientSecret = admin.secret
      }
    case nil:
      throw RPCError(code: .invalidArgument, message: "method: a passphrase or a Shamir split (shares, threshold) is required")
    }
  }

  func unseal(request: Custos_V1_UnsealRequest, context: ServerContext) async throws -> Custos_V1_SealStatus {
    let keys = self.keys
    switch request.secret {
    case let .passphrase(data):
      var bytes = [UInt8](data)
      let passphrase = SecretBytes(consuming: &bytes)
      _ = try await audit.audited("unseal", caller: Caller.of(context), keyring: nil, details: ["method": .string("passphrase")]) {
        () async throws -> String in
        let id = try await Self.blocking(argon2) { try keys.unseal(passphrase: passphrase) }
        try await custody.unlock(keys)
        return id
      } describe: { ["root_key_id": .string($0)] }
    case let .share(text):
      _ = try await audit.audited("unseal", caller: Caller.of(context), keyring: nil, details: ["method": .string("shamir")]) {
        () async throws -> String? in
        let share = try UnsealShare(parsing: text)
        let id = try await Self.blocking(argon2) { try keys.unseal(share: share) }
        if id != nil { try await custody.unlock(keys) }
        return id
      } describe: { id in
        guard let id else {
          if case let .sealed(_, given, threshold) = keys.status { return ["shares_given": .integer(Int64(given)), "threshold": .integer(Int64(threshold))] }
          return [:]
        }
        return ["root_key_id": .string(id)]
      }
    case nil:
      throw RPCError(code: .invalidArgument, message: "secret: a passphrase or one share is required")
    }
    return Self.status(keys.status)
  }

  func seal(request: Custos_V1_SealRequest, context: ServerContext) async throws -> Custos_V1_SealStatus {
    try await admin.require(.operatorSeal, on: CustosResource.rootKey.uid)
    let keys = self.keys
    _ = try await audit.audited("seal", caller: Caller.of(context), keyring: nil) { () async throws in try keys.seal() }
    tokens.dropPrivateKeys()
    await custody.lock()
    return Self.status(keys.status)
  }

  func status(request: Custos_V1_SealStatusRequest, context: ServerContext) async throws -> Custos_V1_SealStatus {
    Self.status(keys.status)
  }

  func rotateRoot(request: Custos_V1_RotateRootRequest, context: ServerContext) async throws -> Custos_V1_RotateRootResponse {
    try await admin.require(.operatorRotateRoot, on: CustosResource.rootKey.uid)
    let keys = self.keys
    let key = try await idempotency.prepare(request, method: "Operator/RotateRoot")
    return try await idempotency.exclusively(key) {
      if let stored = try await idempotency.storedAnswer(key) {
        return try Custos_V1_RotateRootResponse(serializedBytes: stored.response).with(receipt: stored.receipts[stored.receipts.count - 1])
      }
      let once = key.map { Once<((previous: String, current: String), Int)>(calls: idempotency, key: $0) { try Self.rotated($0).serializedBytes() } }
      let (result, receipt) = try await audit.audited("root_rotate", caller: Caller.of(context), keyring: nil, once: once) {
        () async throws -> ((previous: String, current: String), Int) in
        try await Self.blocking(argon2) { (try keys.rotateRoot(), try keys.keyrings().count) }
      } describe: { result in
        ["previous_root_key_id": .string(result.0.previous), "root_key_id": .string(result.0.current), "keyrings_rewrapped": .integer(Int64(result.1))]
      }
      var response = Self.rotated(result)
      if let receipt { response.receipt = AuditLogService.receipt(receipt) }
      return response
    }
  }

  private static func rotated(_ result: ((previous: String, current: String), Int)) -> Custos_V1_RotateRootResponse {
    .with {
      $0.previousRootKeyID = result.0.previous
      $0.rootKeyID = result.0.current
      $0.keyringsRewrapped = UInt32(result.1)
    }
  }

  func backup(request: Custos_V1_BackupRequest, response: RPCWriter<Custos_V1_BackupChunk>, context: ServerContext) async throws {
    try await admin.require(.operatorBackup, on: CustosResource.ledger.uid)
    let caller = Caller.of(context)
    try await RPCErrors.mapping {
      _ = try await backups.stream(caller: caller) { chunk in try await response.writeChunk(.with { $0.data = Data(chunk) }) }
    }
  }

  static let firstAdminClientID = "admin"

  /// The first admin client, created with the root key; its secret is returned once.
  private func firstAdmin(_ context: ServerContext) async throws -> (id: String, secret: String) {
    let tokens = self.tokens
    let created: (client: ServiceClient, secret: SecretBytes)
    do {
      created = try await argon2.run {
        try tokens.createClient(
          id: Self.firstAdminClientID, displayName: "First administrator (created by operator init)",
          roles: ["Role::\"admin\""], audiences: [tokens.options.audience], tokenTTLSeconds: nil)
      }
    } catch { throw TokensService.map(error) }
    _ = try await audit.record(LedgerEvent(
      kind: "client.create", actor: Caller.of(context), action: "client.create", resource: "client/\(created.client.id)",
      outcome: "ok", details: ["roles": .array(created.client.roles.map { .string($0) }), "first_admin": .bool(true)]))
    return (created.client.id, created.secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
  }

  static func status(_ status: KeyManager.Status) -> Custos_V1_SealStatus {
    .with {
      switch status {
      case .uninitialized: $0.state = .uninitialized
      case let .sealed(method, given, threshold):
        $0.state = .sealed
        $0.method = method
        $0.sharesGiven = UInt32(given)
        $0.threshold = UInt32(threshold)
      case let .unsealed(id):
        $0.state = .unsealed
        $0.rootKeyID = id
      }
    }
  }

  /// Runs blocking key-manager work under the Argon2 bound.
  static func blocking<T: Sendable>(_ limit: ConcurrencyLimit, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await limit.run(body)
  }
}
