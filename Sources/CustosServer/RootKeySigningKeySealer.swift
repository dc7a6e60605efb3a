import CustosCrypto
import CustosKeys
import CustosTokens

/// Token signing private keys sealed by the key manager, under an internal keyring
/// (`custos.token-signing`) so a root rotation rewraps them with every other key. Fails while sealed.
struct RootKeySigningKeySealer: SigningKeySealer {
  static let keyring = "custos.token-signing"
  let keys: KeyManager

  func seal(_ privateKey: [UInt8], kid: String) throws -> [UInt8] {
    if (try? keys.keyring(Self.keyring)) == nil { _ = try keys.createKeyring(name: Self.keyring) }
    return try keys.encrypt(keyring: Self.keyring, plaintext: privateKey, context: context(kid)).ciphertext
  }

  func open(_ sealed: [UInt8], kid: String) throws -> [UInt8] {
    try keys.decrypt(keyring: Self.keyring, ciphertext: sealed, context: context(kid)).plaintext.withUnsafeBytes { Array($0) }
  }

  private func context(_ kid: String) throws -> EncryptionContext {
    try EncryptionContext(["purpose": "token-signing", "kid": kid])
  }
}
