import CustosCrypto
import CustosJSON
import CustosLedger
import CustosPolicy
import GRPCCore

/// Custos's own admin operations, authorized by the active policy set like any decision: the caller is
/// `Service::"<client_id>"` with its token's roles as parents, the action `Action::"custos:<operation>"`.
/// Each decision is recorded (`authz.decision`, `details.admin: true`) before the operation runs.
struct AdminAuthorization: Sendable {
  let policies: ActivePolicySet
  let ledger: Ledger

  /// Throws PERMISSION_DENIED unless the policy set permits it. Without an authenticated caller
  /// (authentication turned off) there is nobody to decide for: allowed.
  func require(_ operation: AdminAction, on resource: EntityUID) async throws {
    guard let caller = CallerIdentity.current else { return }
    let snapshot = try await RPCErrors.mapping { try await policies.recordedSnapshot() }
    let callerEntity = caller.entity(in: snapshot.set.entities)
    let principal = callerEntity.uid
    let entities = snapshot.set.entities.merging([callerEntity])
    let action = operation.uid
    let decision = snapshot.set.authorizer.authorize(
      Request(principal: principal, action: action, resource: resource, context: [:]), entities: entities)
    let receipt = try await RPCErrors.mapping {
      try await ledger.append(LedgerEvent(
        kind: "authz.decision", actor: principal.description, action: action.description, resource: resource.description,
        outcome: decision.outcome.rawValue,
        details: [
          "admin": .bool(true), "reasons": .array(decision.reasons.map { .string($0) }),
          "errors": .array(decision.errors.map { .string($0.policy) }), "policy_set_hash": .string(snapshot.set.hash.hex),
          "roles": .array(caller.claims.roles.map { .string($0) }), "jti": .string(caller.claims.id),
        ]))
    }
    guard decision.outcome == .allow else {
      throw RPCError(
        code: .permissionDenied,
        message: "\(principal) may not \(action) on \(resource) under policy set \(snapshot.set.hash.hex.prefix(12)) (decision recorded at ledger index \(receipt.index))")
    }
  }
}
