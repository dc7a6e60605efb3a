import CustosCrypto
import CustosKeys
import CustosLedger
import Logging

/// Keeps the ledger's checkpoint signing key sealed in the store under the root key (an internal
/// keyring, so a root rotation rewraps it with every other key), and gives it to the ledger once the
/// root key is unsealed. Nodes sharing a database share the one key; the first node to unseal an empty
/// deployment creates it. A single node's plain `keys/ledger-signing.key` is sealed into the store at its
/// first unseal after the upgrade, then erased.
struct LedgerKeyCustody: Sendable {
  static let keyring = "custos.ledger-signing"

  let ledger: Ledger
  let store: any LedgerSigningKeyStore
  let origin: String
  let keysDirectory: String
  let logger: Logger

  /// Opens the ledger with the verifier key from the store (or the legacy file being upgraded). The
  /// legacy file's key signs at once, as it did before the upgrade; a sealed key only after `unlock`.
  static func openLedger(
    storage: any LedgerStorage, keyStore: any LedgerSigningKeyStore, origin: String, keysDirectory: String, options: Ledger.Options,
    logger: Logger
  ) throws -> LedgerKeyCustody {
    let stored = try keyStore.storedSigningKey()
    let legacy = try LegacyLedgerKeyFile.load(keysDirectory: keysDirectory)
    let legacyPath = LegacyLedgerKeyFile.path(keysDirectory: keysDirectory)
    var verifier: NoteVerifier?
    if let stored {
      verifier = NoteVerifier(name: origin, publicKey: try Ed25519.PublicKey(rawRepresentation: stored.publicKey))
      if let legacy, legacy.publicKey.rawRepresentation != stored.publicKey {
        throw Daemon.StartupFailure(description: """
          \(legacyPath) holds another key than the ledger signing key sealed in the store: \
          remove the file if it is left over, or use the keys directory this store was created with
          """)
      }
    } else if let legacy {
      verifier = NoteVerifier(name: origin, publicKey: legacy.publicKey)
      logger.notice("the ledger signing key is still a plain file: it is sealed into the store and the file erased at the next unseal", metadata: ["file": "\(legacyPath)"])
    }
    let ledger: Ledger
    do {
      ledger = try Ledger(storage: storage, verifier: verifier, signer: legacy.map { NoteSigner(name: origin, privateKey: $0) }, options: options)
    } catch {
      guard case .invalidArgument = error else { throw error }
      throw Daemon.StartupFailure(description: """
        the ledger does not open with its signing key and origin \(origin): \(error). \
        Start with the store, keys directory and origin this ledger was created with.
        """)
    }
    return LedgerKeyCustody(ledger: ledger, store: keyStore, origin: origin, keysDirectory: keysDirectory, logger: logger)
  }

  /// Once the root key is unsealed: opens the sealed ledger key and gives it to the ledger, creating
  /// and sealing one first for a new deployment, or sealing the legacy file's key and erasing the file.
  func unlock(_ keys: KeyManager) async throws {
    let (signer, erasedLegacy) = try await BlockingWork.run { [self] in try openOrSeal(keys) }
    try await ledger.install(signer)
    if erasedLegacy {
      logger.notice("sealed the ledger signing key into the store under the root key and erased the plain file", metadata: [
        "file": "\(LegacyLedgerKeyFile.path(keysDirectory: keysDirectory))"
      ])
    }
  }

  /// After the root key was sealed: the ledger key is forgotten with the others.
  func lock() async {
    await ledger.removeSigner()
  }

  private func openOrSeal(_ keys: KeyManager) throws -> (NoteSigner, erasedLegacy: Bool) {
    let legacy = try LegacyLedgerKeyFile.load(keysDirectory: keysDirectory)
    var stored = try store.storedSigningKey()
    if stored == nil {
      let key = legacy ?? Ed25519.PrivateKey()
      stored = try store.storeSigningKey(StoredLedgerSigningKey(
        publicKey: key.publicKey.rawRepresentation, sealedPrivateKey: try seal(key, keys)))
      if legacy == nil { logger.notice("created the ledger signing key, sealed in the store under the root key") }
    }
    guard let stored else { throw LedgerError.unavailable("the ledger signing key is not stored") }
    let key = try open(stored, keys)
    if let legacy {
      // Only a file holding this very key is erased; another key stops the start (openLedger).
      guard legacy.publicKey.rawRepresentation == stored.publicKey else {
        throw LedgerError.invalidArgument("\(LegacyLedgerKeyFile.path(keysDirectory: keysDirectory)) holds another key than the one sealed in the store")
      }
      try LegacyLedgerKeyFile.erase(keysDirectory: keysDirectory)
    }
    return (NoteSigner(name: origin, privateKey: key), legacy != nil)
  }

  private func seal(_ key: Ed25519.PrivateKey, _ keys: KeyManager) throws -> [UInt8] {
    if (try? keys.keyring(Self.keyring)) == nil {
      do { _ = try keys.createKeyring(name: Self.keyring) } catch {
        // Another node sharing the store may have created it meanwhile.
        guard (try? keys.keyring(Self.keyring)) != nil else { throw error }
      }
    }
    return try keys.encrypt(keyring: Self.keyring, plaintext: key.rawRepresentation, context: try context(key.publicKey.rawRepresentation)).ciphertext
  }

  private func open(_ stored: StoredLedgerSigningKey, _ keys: KeyManager) throws -> Ed25519.PrivateKey {
    let seed = try keys.decrypt(keyring: Self.keyring, ciphertext: stored.sealedPrivateKey, context: try context(stored.publicKey)).plaintext
    let key = try Ed25519.PrivateKey(rawRepresentation: seed)
    guard key.publicKey.rawRepresentation == stored.publicKey else {
      throw LedgerError.corrupted(index: 0, reason: "the sealed ledger signing key does not match its stored public key")
    }
    return key
  }

  private func context(_ publicKey: [UInt8]) throws -> EncryptionContext {
    try EncryptionContext(["purpose": "ledger-signing", "public_key": Hex.encode(publicKey)])
  }
}
