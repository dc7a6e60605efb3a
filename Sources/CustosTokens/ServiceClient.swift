import CustosCrypto

/// A service that may obtain tokens: its identity, roles and allowed audiences, and its secrets as
/// Argon2id PHC strings (never the secrets themselves).
public struct ServiceClient: Sendable, Equatable, Codable {
  /// A secret's stored form and, for a rotated-out secret, when it stops working.
  public struct StoredSecret: Sendable, Equatable, Codable {
    public var phc: String
    /// Nanoseconds since the epoch; nil for the current secret.
    public var expiresAt: Int64?

    public init(phc: String, expiresAt: Int64? = nil) {
      self.phc = phc
      self.expiresAt = expiresAt
    }
  }

  public var id: String
  public var displayName: String
  /// Cedar entity uids, e.g. `Role::"payments"`.
  public var roles: [String]
  public var audiences: [String]
  public var tokenTTLSeconds: Int64
  public var secrets: [StoredSecret]
  public var disabled: Bool

  public init(
    id: String, displayName: String, roles: [String], audiences: [String], tokenTTLSeconds: Int64 = 900,
    secrets: [StoredSecret] = [], disabled: Bool = false
  ) {
    self.id = id
    self.displayName = displayName
    self.roles = roles
    self.audiences = audiences
    self.tokenTTLSeconds = tokenTTLSeconds
    self.secrets = secrets
    self.disabled = disabled
  }

  /// A fresh 256-bit secret as shown once to the operator (`cs_` + base64url), and its PHC string.
  /// Blocks for the Argon2id cost.
  public static func newSecret(parameters: Argon2id.Parameters = .owaspMinimum) throws(TokenError) -> (shown: SecretBytes, phc: String) {
    var text = Array(("cs_" + Base64.encodeURL(SecureRandom.bytes(32))).utf8)
    let shown = SecretBytes(consuming: &text)
    do {
      return (shown, try shown.withUnsafeBytes { try Argon2id.hashPassword($0, parameters: parameters) })
    } catch {
      throw .invalidArgument("hashing the client secret failed: \(error)")
    }
  }

  /// Replaces the current secret, keeping the old one valid until `now + overlap`.
  public mutating func rotateSecret(newPHC: String, now: Int64, overlapNanoseconds: Int64) {
    secrets = secrets.compactMap { secret in
      if secret.expiresAt == nil { return StoredSecret(phc: secret.phc, expiresAt: now + overlapNanoseconds) }
      return (secret.expiresAt ?? 0) > now ? secret : nil
    }
    secrets.append(StoredSecret(phc: newPHC))
  }

  /// Whether `secret` is one of the client's unexpired secrets (Argon2id; blocks). A disabled client
  /// authenticates with nothing.
  public func authenticates(_ secret: SecretBytes, now: Int64) -> Bool {
    var matched = false
    // Check every live secret, matched or not, so timing does not tell which one matched.
    for stored in secrets where (stored.expiresAt ?? .max) > now {
      let ok = (try? secret.withUnsafeBytes { try Argon2id.verifyPassword($0, phcString: stored.phc) }) ?? false
      matched = matched || ok
    }
    // Checked after the hashing, so a disabled client answers in the same time as a wrong secret.
    return matched && !disabled
  }
}
