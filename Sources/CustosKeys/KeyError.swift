/// Errors raised by the key manager, each a case a caller can act on. Messages name keyrings, versions
/// and key ids, never key material, passphrases, shares, plaintext or encryption-context values.
public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The root key is not in memory: unseal first.
  case sealed
  /// No root key has been created yet: run `custos operator init`.
  case notInitialized
  /// A root key already exists.
  case alreadyInitialized
  /// The passphrase or the combined shares do not open the sealed root key.
  case unsealRefused(String)
  /// A share is malformed, mistyped or from another root key.
  case invalidShare(String)
  /// The sealed root-key file does not decode or authenticate.
  case sealedFileInvalid(String)
  /// The request is malformed (names, sizes, ranges).
  case invalidArgument(String)
  case keyringNotFound(String)
  case keyringExists(String)
  /// The operation is refused in the keyring's current state (pending destruction, trimmed or
  /// destroyed version, below the minimum decryption version, ...).
  case failedPrecondition(String)
  /// The ciphertext does not authenticate under its key with the given encryption context.
  case decryptionFailed(String)
  /// Stored key material does not unwrap under the root key, or the store contradicts itself.
  case corrupted(String)
  /// The store failed; nothing was changed.
  case storage(String)

  public var description: String {
    switch self {
    case .sealed: return "sealed: the root key is not loaded; unseal with `custos operator unseal`"
    case .notInitialized: return "not initialized: no root key exists yet; create one with `custos operator init`"
    case .alreadyInitialized: return "already initialized: a root key exists"
    case let .unsealRefused(why), let .invalidShare(why), let .sealedFileInvalid(why), let .invalidArgument(why),
      let .failedPrecondition(why), let .decryptionFailed(why), let .corrupted(why), let .storage(why):
      return why
    case let .keyringNotFound(name): return "keyring \"\(name)\" does not exist"
    case let .keyringExists(name): return "keyring \"\(name)\" already exists"
    }
  }
}
