/// What the key manager needs from a database. Implementations keep every call atomic: a call either
/// happens entirely or not at all.
public protocol KeyStorage: Sendable {
  /// The id of the root key the stored keyrings are wrapped under (nil before the first init).
  func rootKeyID() throws -> String?
  /// Records the root key id of a fresh initialization.
  func setRootKeyID(_ id: String) throws
  /// Every keyring with its versions.
  func loadKeyrings() throws -> [KeyringRecord]
  /// Inserts a new keyring; fails if the name exists.
  func insertKeyring(_ keyring: KeyringRecord) throws
  /// Replaces a keyring's settings and versions (versions absent from `keyring` are deleted).
  func updateKeyring(_ keyring: KeyringRecord) throws
  /// Takes the next `count` uses of one version's invocation budget, atomically — nodes sharing a
  /// database draw from one budget —: raises the stored reservation by `count`, never past `limit`, and
  /// returns the uses now the caller's (`old..<new`, empty once the budget is spent).
  func reserveUsage(keyring: String, version: UInt32, count: UInt64, limit: UInt64) throws -> Range<UInt64>
  /// Rewrapped keyrings and the new root key id, in one transaction (root-key rotation).
  func replaceWrappedKeys(_ keyrings: [KeyringRecord], rootKeyID: String) throws
}

/// Where the sealed root key lives (files under `keys/`). Writes are durable before they return.
public protocol SealedRootKeyStore: Sendable {
  /// The current sealed file and a staged successor from an unfinished root rotation, if any.
  func read() throws -> (current: [UInt8]?, next: [UInt8]?)
  /// Creates the current file; fails if one exists.
  func create(_ sealed: [UInt8]) throws
  /// Writes the staged successor (replacing an older staged one).
  func stage(_ sealed: [UInt8]) throws
  /// Atomically makes the staged successor current.
  func promoteStaged() throws
  /// Deletes the staged successor.
  func discardStaged() throws
}
