/// Where the ledger's checkpoint signing key is kept, in the store every node shares: the public half in
/// plain (a node verifies the stored log with it while the root key is still sealed) and the private
/// half only sealed under the root key, so no node keeps the key in a plain file.
public protocol LedgerSigningKeyStore: Sendable {
  /// The stored key, or nil before the first node created one.
  func storedSigningKey() throws -> StoredLedgerSigningKey?

  /// Stores `key` unless a key is stored already, and returns the stored one: when two nodes create a
  /// key at once, the first one written wins and both sign with it.
  func storeSigningKey(_ key: StoredLedgerSigningKey) throws -> StoredLedgerSigningKey
}

/// The ledger's Ed25519 signing key as stored: never the private key in plain.
public struct StoredLedgerSigningKey: Sendable, Equatable, Codable {
  /// The 32-byte Ed25519 public key.
  public var publicKey: [UInt8]
  /// The private key as sealed under the root key (opaque to the store).
  public var sealedPrivateKey: [UInt8]

  public init(publicKey: [UInt8], sealedPrivateKey: [UInt8]) {
    self.publicKey = publicKey
    self.sealedPrivateKey = sealedPrivateKey
  }
}
