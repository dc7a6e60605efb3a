import CustosCrypto

/// The 256-bit root key that wraps every keyring key. It exists unsealed only in memory.
public struct RootKey: Sendable {
  /// Root keys are AES-256 keys.
  public static let length = 32

  let secret: SecretBytes
  /// A public fingerprint (16 hex digits of an HMAC under the key): names the key in files, the store
  /// and the ledger without revealing anything about it.
  public let id: String

  init(secret: SecretBytes) {
    self.secret = secret
    self.id = RootKey.fingerprint(of: secret, label: "custos/root-key-id/v1")
  }

  /// A fresh root key from the CSPRNG.
  public static func generate() -> RootKey { RootKey(secret: SecretBytes.random(count: length)) }

  static func fingerprint(of secret: SecretBytes, label: String) -> String {
    String(HMACSHA256.authenticationCode(key: secret, message: Array(label.utf8)).hex.prefix(16))
  }
}

/// The key that seals the root key: derived from the operator's passphrase with Argon2id, or
/// recombined from Shamir shares. Held in memory while unsealed so the root key can be rotated and
/// resealed without asking the operators again; dropped on seal.
public struct UnsealKey: Sendable {
  public static let length = 32

  let secret: SecretBytes

  init(secret: SecretBytes) { self.secret = secret }

  /// A fresh random unseal key, for Shamir sealing.
  static func generate() -> UnsealKey { UnsealKey(secret: SecretBytes.random(count: length)) }

  /// A public check value that tells a wrong passphrase or share set from a tampered sealed file.
  var checkValue: String { RootKey.fingerprint(of: secret, label: "custos/unseal-key-check/v1") }
}
