import CustosPolicy

/// Custos's own administrative operations. Each is authorized by the active policy set as
/// `Action::"custos:<rawValue>"` on a resource of `resourceType`; the shipped schema declares them all
/// (a test holds the two in step).
enum AdminAction: String, CaseIterable, Sendable {
  case keysCreate = "keys.create"
  case keysRotate = "keys.rotate"
  case keysSetMinDecryptionVersion = "keys.min_decryption_version"
  case keysTrim = "keys.trim"
  case keysDestroy = "keys.destroy"
  case keysCancelDestroy = "keys.cancel_destroy"
  case clientsCreate = "clients.create"
  case clientsDisable = "clients.disable"
  case clientsRotateSecret = "clients.rotate_secret"
  case clientsList = "clients.list"
  case operatorSeal = "operator.seal"
  case operatorRotateRoot = "operator.rotate_root"
  case operatorBackup = "operator.backup"
  case policyRead = "policy.read"
  case policyReload = "policy.reload"
  case reportsExport = "reports.export"
  case tokensRevoke = "tokens.revoke"
  case tokensRotateSigningKey = "tokens.rotate_signing_key"

  /// The Cedar action the policy set decides.
  var uid: EntityUID { EntityUID(type: "Action", id: "custos:\(rawValue)") }

  /// The entity type of the resources this action is asked about.
  var resourceType: String {
    switch self {
    case .keysCreate, .keysRotate, .keysSetMinDecryptionVersion, .keysTrim, .keysDestroy, .keysCancelDestroy: return "Keyring"
    case .clientsCreate, .clientsDisable, .clientsRotateSecret: return "Client"
    default: return "Custos"
    }
  }
}

/// The parts of Custos itself that admin actions act on: `Custos::"<rawValue>"`.
enum CustosResource: String, CaseIterable, Sendable {
  case rootKey = "root-key"
  case tokens
  case tokenSigning = "token-signing"
  case clients
  case policies
  case ledger

  var uid: EntityUID { EntityUID(type: "Custos", id: rawValue) }
}
