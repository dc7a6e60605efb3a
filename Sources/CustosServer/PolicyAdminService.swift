import CustosPolicy
import CustosProtocol
import GRPCCore

/// `custos.v1.PolicyAdmin`: reload and inspect the active policy set.
struct PolicyAdminService: Custos_V1_PolicyAdmin.SimpleServiceProtocol {
  let policies: ActivePolicySet
  let admin: AdminAuthorization

  func reloadPolicies(request: Custos_V1_ReloadPoliciesRequest, context: ServerContext) async throws -> Custos_V1_PolicySetInfo {
    try await admin.require(.policyReload, on: CustosResource.policies.uid)
    do {
      return Self.info(try await policies.reload(trigger: "ReloadPolicies RPC"))
    } catch let failure as ActivePolicySet.ReloadFailure {
      throw RPCError(code: .failedPrecondition, message: "policy set rejected, the previous one keeps serving: \(failure)")
    } catch {
      throw RPCErrors.map(error)
    }
  }

  func pushPolicySet(request: Custos_V1_PushPolicySetRequest, context: ServerContext) async throws -> Custos_V1_PolicySetInfo {
    try await admin.require(.policyReload, on: CustosResource.policies.uid)
    guard !request.files.isEmpty else { throw RPCError(code: .invalidArgument, message: "files: give the policy set's files (*.cedar, the schema, entities.json)") }
    var names = Set<String>()
    for file in request.files {
      guard !file.name.isEmpty, !file.name.contains("/"), file.name != "..", names.insert(file.name).inserted else {
        throw RPCError(code: .invalidArgument, message: "files: \"\(file.name)\" is not a plain file name, or is given twice")
      }
    }
    do {
      return Self.info(try await policies.push(request.files.map { ($0.name, [UInt8]($0.content)) }))
    } catch let failure as ActivePolicySet.ReloadFailure {
      throw RPCError(code: .failedPrecondition, message: "policy set rejected, the previous one keeps serving: \(failure)")
    } catch {
      throw RPCErrors.map(error)
    }
  }

  func getPolicySet(request: Custos_V1_GetPolicySetRequest, context: ServerContext) async throws -> Custos_V1_PolicySetInfo {
    try await admin.require(.policyRead, on: CustosResource.policies.uid)
    return Self.info(policies.snapshot)
  }

  static func info(_ snapshot: ActivePolicySet.Snapshot) -> Custos_V1_PolicySetInfo {
    .with { info in
      info.hash = snapshot.set.hash.hex
      info.files = snapshot.set.files.map { file in .with { $0.name = file.name; $0.sha256 = file.sha256.hex } }
      info.policyCount = UInt32(snapshot.set.policies.count)
      info.entityCount = UInt32(snapshot.set.entities.count)
      if let activation = snapshot.activation { info.activationReceipt = AuditLogService.receipt(activation) }
    }
  }
}
