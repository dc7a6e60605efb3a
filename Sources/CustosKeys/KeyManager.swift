import CustosCrypto
import Synchronization
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The key manager: the sealed root key and the keyrings it wraps.
///
/// Reads (encrypt, decrypt, info) take an immutable snapshot of the unsealed keyrings under a brief lock
/// and do their cryptography outside it. Changes (init, unseal, rotation, destruction, ...) are
/// serialized by a second lock and write the store before the in-memory state changes, so memory never
/// runs ahead of what survives a restart. Calls block (Argon2id, fsync); run the slow ones off the
/// cooperative pool.
public final class KeyManager: Sendable {
  /// Limits and hooks.
  public struct Options: Sendable {
    /// Largest plaintext accepted by Encrypt.
    public var maximumPlaintextBytes = 1 << 20
    /// Encryptions one key version performs before a forced rotation: below 2^32, the NIST SP 800-38D
    /// bound for random 96-bit nonces.
    public var maximumEncryptionsPerVersion: UInt64 = (1 << 32) - 1
    /// Uses reserved (and persisted) at a time per version.
    public var usageReservationBlock: UInt64 = 1 << 16
    /// Argon2id cost for passphrase sealing at init.
    public var passphraseSealing = Argon2id.Parameters.rootKeySealing
    /// Nanoseconds since the Unix epoch.
    public var clock: @Sendable () -> Int64 = { KeyManager.wallClockNanoseconds() }
    /// Called at the named steps of a root rotation (`rotate-root.staged`, `.committed`, `.promoted`);
    /// tests use it to stop the rotation there, as a crash would.
    public var failpoint: @Sendable (String) throws -> Void = { _ in }

    public init() {}
  }

  /// The seal state, for `operator status`.
  public enum Status: Sendable, Equatable {
    case uninitialized
    /// Sealed; for Shamir sealing, how many valid shares have been given towards the threshold.
    case sealed(method: String, sharesGiven: Int, threshold: Int)
    case unsealed(rootKeyID: String)
  }

  enum Phase: Sendable {
    case uninitialized
    case sealed(SealedRootKey, shares: [UnsealShare])
    case unsealed(Unsealed)
  }

  struct Unsealed: Sendable {
    let root: RootKey
    let unsealKey: UnsealKey
    let sealed: SealedRootKey
    var keyrings: [String: LiveKeyring]
  }

  /// A keyring's record with its unwrapped keys; replaced, never mutated.
  final class LiveKeyring: Sendable {
    let record: KeyringRecord
    let keys: [UInt32: LiveKey]

    init(record: KeyringRecord, keys: [UInt32: LiveKey]) {
      self.record = record
      self.keys = keys
    }
  }

  final class LiveKey: Sendable {
    /// Kept for rewrapping under a new root key.
    let secret: SecretBytes
    /// The same key with its AES key schedule computed once, for the hot path.
    let prepared: AESGCM.PreparedKey
    let usage: UsageCounter
    /// The constant part of this version's AAD (keyring name and version).
    let aadPrefix: [UInt8]

    init(secret: SecretBytes, usage: UsageCounter, keyring: String, version: UInt32) throws(KeyError) {
      self.secret = secret
      aadPrefix = KeyringCiphertext.associatedDataPrefix(keyring: keyring, version: version)
      do { prepared = try AESGCM.PreparedKey(secret) } catch { throw .corrupted("a keyring key is not a valid AES key: \(error)") }
      self.usage = usage
    }
  }

  let storage: any KeyStorage
  let rootStore: any SealedRootKeyStore
  let options: Options
  let phase: Mutex<Phase>
  /// Serializes every change of state.
  let changes = Mutex<Void>(())

  /// Reads the sealed root key (if any); the manager starts sealed or uninitialized.
  public init(storage: any KeyStorage, rootStore: any SealedRootKeyStore, options: Options = Options()) throws(KeyError) {
    self.storage = storage
    self.rootStore = rootStore
    self.options = options
    let files = try KeyManager.readRootFiles(rootStore)
    if let current = files.current {
      phase = Mutex(.sealed(current, shares: []))
    } else {
      phase = Mutex(.uninitialized)
    }
  }

  public var status: Status {
    phase.withLock { phase in
      switch phase {
      case .uninitialized: return .uninitialized
      case let .sealed(sealed, shares):
        switch sealed.method {
        case .passphrase: return .sealed(method: "passphrase", sharesGiven: 0, threshold: 0)
        case let .shamir(threshold, _, _): return .sealed(method: "shamir", sharesGiven: shares.count, threshold: threshold)
        }
      case let .unsealed(unsealed): return .unsealed(rootKeyID: unsealed.root.id)
      }
    }
  }

  // MARK: Initialization

  /// Creates the root key and seals it under a passphrase. Leaves the manager unsealed.
  public func initialize(passphrase: SecretBytes) throws(KeyError) -> String {
    try KeyManager.checkPassphrase(passphrase)
    let salt = SecureRandom.bytes(16)
    let parameters = options.passphraseSealing
    let unsealKey = try SealedRootKey.deriveUnsealKey(passphrase: passphrase, salt: salt, parameters: parameters)
    return try initialize(unsealKey: unsealKey, method: .passphrase(parameters, salt: salt))
  }

  /// Creates the root key, seals it under a random unseal key and splits that key into `shares`
  /// Shamir shares, `threshold` of which unseal. The shares are returned once and stored nowhere.
  public func initialize(shares: Int, threshold: Int) throws(KeyError) -> (rootKeyID: String, shares: [UnsealShare]) {
    let unsealKey = UnsealKey.generate()
    let split: [Shamir.Share]
    do { split = try Shamir.split(unsealKey.secret, threshold: threshold, count: shares) } catch {
      throw .invalidArgument(error.description)
    }
    let setID = Hex.encode(SecureRandom.bytes(4))
    let id = try initialize(unsealKey: unsealKey, method: .shamir(threshold: threshold, shares: shares, setID: setID))
    return (id, split.map { UnsealShare(setID: setID, share: $0) })
  }

  private func initialize(unsealKey: UnsealKey, method: SealedRootKey.Method) throws(KeyError) -> String {
    try changes.withLock { _ throws(KeyError) -> String in
      guard case .uninitialized = phase.withLock({ $0 }) else { throw KeyError.alreadyInitialized }
      let storedID = try attempt("read the root key id") { try storage.rootKeyID() }
      let stored = try attempt("read the keyrings") { try storage.loadKeyrings() }
      guard storedID == nil, stored.isEmpty else {
        throw KeyError.corrupted(
          "the database holds keyrings wrapped under root key \(storedID ?? "?") but keys/ has no sealed root key: restore the sealed file instead of initializing")
      }
      let root = RootKey.generate()
      let sealed = try SealedRootKey.seal(root, under: unsealKey, method: method)
      try attempt("write the sealed root key") { try rootStore.create(sealed.encoded()) }
      try attempt("record the root key id") { try storage.setRootKeyID(root.id) }
      phase.withLock { $0 = .unsealed(Unsealed(root: root, unsealKey: unsealKey, sealed: sealed, keyrings: [:])) }
      return root.id
    }
  }

  static func checkPassphrase(_ passphrase: SecretBytes) throws(KeyError) {
    guard passphrase.count >= 8 else { throw .invalidArgument("passphrase: at least 8 bytes are required") }
    guard passphrase.count <= 1024 else { throw .invalidArgument("passphrase: at most 1024 bytes") }
  }

  // MARK: Unsealing

  /// Unseals with the passphrase (blocks for the Argon2id cost). Already unsealed: the passphrase is
  /// still checked, so a wrong one is never answered with success.
  public func unseal(passphrase: SecretBytes) throws(KeyError) -> String {
    switch phase.withLock({ $0 }) {
    case .uninitialized: throw .notInitialized
    case let .unsealed(unsealed):
      let unsealKey = try unsealed.sealed.unsealKey(passphrase: passphrase)
      guard ConstantTime.equals(Array(unsealKey.checkValue.utf8), Array(unsealed.unsealKey.checkValue.utf8)) else {
        throw .unsealRefused("the passphrase does not unseal the root key")
      }
      return unsealed.root.id
    case let .sealed(sealed, _):
      return try finishUnseal(with: try sealed.unsealKey(passphrase: passphrase))
    }
  }

  /// Adds one Shamir share. Returns the root key id once the threshold is reached, nil while more are
  /// needed. A wrong set, a repeated share or a share set that does not unseal resets the progress.
  public func unseal(share: UnsealShare) throws(KeyError) -> String? {
    let combined: [UnsealShare]
    let threshold: Int
    switch phase.withLock({ $0 }) {
    case .uninitialized: throw .notInitialized
    case let .unsealed(unsealed): return unsealed.root.id
    case let .sealed(sealed, shares):
      guard case let .shamir(t, _, setID) = sealed.method else {
        throw .invalidArgument("this root key is sealed with a passphrase, not shares")
      }
      guard share.setID == setID else {
        throw .invalidShare("the share belongs to another root key (set \(share.setID), this one is \(setID))")
      }
      guard !shares.contains(where: { $0.share.x == share.share.x }) else {
        throw .invalidShare("share \(share.share.x) was already given")
      }
      combined = shares + [share]
      threshold = t
      phase.withLock { if case let .sealed(current, _) = $0 { $0 = .sealed(current, shares: combined) } }
    }
    guard combined.count >= threshold else { return nil }
    let secret: SecretBytes
    do { secret = try Shamir.combine(combined.map(\.share)) } catch { throw .invalidShare(error.description) }
    do {
      return try finishUnseal(with: UnsealKey(secret: secret))
    } catch {
      phase.withLock { if case let .sealed(current, _) = $0 { $0 = .sealed(current, shares: []) } }
      throw error
    }
  }

  /// Drops the root key, the unseal key and every unwrapped keyring key from memory.
  public func seal() throws(KeyError) {
    try changes.withLock { _ throws(KeyError) in
      switch phase.withLock({ $0 }) {
      case .uninitialized: throw KeyError.notInitialized
      case .sealed: return
      case let .unsealed(unsealed):
        phase.withLock { $0 = .sealed(unsealed.sealed, shares: []) }
      }
    }
  }

  /// Opens the sealed root key (finishing or undoing an interrupted root rotation), checks it is the key
  /// the store's keyrings are wrapped under, and unwraps them.
  private func finishUnseal(with unsealKey: UnsealKey) throws(KeyError) -> String {
    try changes.withLock { _ throws(KeyError) -> String in
      if case let .unsealed(unsealed) = phase.withLock({ $0 }) { return unsealed.root.id }
      let files = try KeyManager.readRootFiles(rootStore)
      guard let current = files.current else { throw KeyError.notInitialized }
      let storedID = try attempt("read the root key id") { try storage.rootKeyID() }
      var sealed = current
      // A root rotation commits the store between staging and promoting the new file: the store's id
      // says which of the two is in force.
      if let next = files.next {
        if next.rootKeyID == storedID {
          sealed = next
          _ = try next.open(with: unsealKey)
          try attempt("finish the interrupted root rotation") { try rootStore.promoteStaged() }
        } else {
          try attempt("discard the staged root key of an interrupted rotation") { try rootStore.discardStaged() }
        }
      }
      let root = try sealed.open(with: unsealKey)
      let records = try attempt("read the keyrings") { try storage.loadKeyrings() }
      if let storedID {
        guard storedID == root.id else {
          throw KeyError.corrupted(
            "the sealed root key (id \(root.id)) is not the one this database's keyrings are wrapped under (id \(storedID))")
        }
      } else {
        guard records.isEmpty else { throw KeyError.corrupted("the database holds keyrings but no root key id") }
        try attempt("record the root key id") { try storage.setRootKeyID(root.id) }
      }
      var keyrings: [String: LiveKeyring] = [:]
      for record in records {
        keyrings[record.name] = try KeyManager.live(record, root: root, reusing: nil)
      }
      phase.withLock { $0 = .unsealed(Unsealed(root: root, unsealKey: unsealKey, sealed: sealed, keyrings: keyrings)) }
      return root.id
    }
  }

  /// Re-reads every keyring from storage — another node sharing the database created or changed one —
  /// keeping the unwrapped keys and usage counters of the versions this node already holds. Does nothing
  /// while sealed (unsealing reads them all).
  public func reloadKeyrings() throws(KeyError) {
    try changes.withLock { _ throws(KeyError) in
      guard case let .unsealed(held) = phase.withLock({ $0 }) else { return }
      let unsealed = try followRootRotation(held)
      let records = try attempt("read the keyrings") { try storage.loadKeyrings() }
      var keyrings: [String: LiveKeyring] = [:]
      for record in records {
        keyrings[record.name] = try KeyManager.live(record, root: unsealed.root, reusing: unsealed.keyrings[record.name])
      }
      phase.withLock { phase in
        guard case var .unsealed(current) = phase else { return }
        current.keyrings = keyrings
        phase = .unsealed(current)
      }
    }
  }

  /// The unsealed state to work from: if another node sharing the database rotated the root key (the
  /// stored root key id is not this node's), its sealed successor is opened with the unseal key this node
  /// holds and used from now on — so this node never wraps anything under the retired root key, and keeps
  /// serving without an operator. The unwrapped keyring keys do not change in a root rotation: they are
  /// kept. Must hold `changes`.
  func followRootRotation(_ unsealed: Unsealed) throws(KeyError) -> Unsealed {
    let storedID = try attempt("read the root key id") { try storage.rootKeyID() }
    guard let storedID, storedID != unsealed.root.id else { return unsealed }
    let files = try KeyManager.readRootFiles(rootStore)
    // The other node commits the new id before it promotes its staged sealed key: either may hold it.
    guard let sealed = [files.current, files.next].compactMap({ $0 }).first(where: { $0.rootKeyID == storedID }) else {
      throw .corrupted("the keyrings are wrapped under root key \(storedID), whose sealed key is not in the root key store")
    }
    let root = try sealed.open(with: unsealed.unsealKey)
    let records = try attempt("read the keyrings") { try storage.loadKeyrings() }
    var keyrings: [String: LiveKeyring] = [:]
    for record in records {
      keyrings[record.name] = try KeyManager.live(record, root: root, reusing: unsealed.keyrings[record.name])
    }
    let followed = Unsealed(root: root, unsealKey: unsealed.unsealKey, sealed: sealed, keyrings: keyrings)
    phase.withLock { $0 = .unsealed(followed) }
    return followed
  }

  static func readRootFiles(_ store: any SealedRootKeyStore) throws(KeyError) -> (current: SealedRootKey?, next: SealedRootKey?) {
    let files: (current: [UInt8]?, next: [UInt8]?)
    do { files = try store.read() } catch { throw .storage("cannot read the sealed root key: \(error)") }
    return (try files.current.map { bytes throws(KeyError) in try SealedRootKey(decoding: bytes) },
      try? files.next.map { bytes throws(KeyError) in try SealedRootKey(decoding: bytes) })
  }

  // MARK: Root rotation

  /// Replaces the root key: every keyring key is rewrapped under a new root key in one store
  /// transaction. A crash at any step leaves either the old or the new root key in force: the new
  /// sealed file is staged first, the store switches ids atomically, and unseal finishes the rest.
  public func rotateRoot() throws(KeyError) -> (previous: String, current: String) {
    try changes.withLock { _ throws(KeyError) -> (previous: String, current: String) in
      let unsealed = try followRootRotation(try requireUnsealed())
      let root = RootKey.generate()
      var rewrapped: [KeyringRecord] = []
      for live in unsealed.keyrings.values.sorted(by: { $0.record.name < $1.record.name }) {
        var record = live.record
        for i in record.versions.indices where !record.versions[i].destroyed {
          guard let key = live.keys[record.versions[i].version] else {
            throw KeyError.corrupted("keyring \"\(record.name)\" version \(record.versions[i].version) has no unwrapped key")
          }
          record.versions[i].wrappedKey = try KeyManager.wrap(key.secret, keyring: record.name, version: record.versions[i].version, root: root)
        }
        rewrapped.append(record)
      }
      let sealed = try SealedRootKey.seal(root, under: unsealed.unsealKey, method: unsealed.sealed.method)
      try attempt("stage the new sealed root key") { try rootStore.stage(sealed.encoded()) }
      try attempt("continue past failpoint rotate-root.staged") { try options.failpoint("rotate-root.staged") }
      try attempt("rewrap the keyrings under the new root key") { try storage.replaceWrappedKeys(rewrapped, rootKeyID: root.id) }
      try attempt("continue past failpoint rotate-root.committed") { try options.failpoint("rotate-root.committed") }
      try attempt("replace the sealed root key") { try rootStore.promoteStaged() }
      try attempt("continue past failpoint rotate-root.promoted") { try options.failpoint("rotate-root.promoted") }
      phase.withLock { phase in
        guard case var .unsealed(current) = phase else { return }
        var keyrings: [String: LiveKeyring] = [:]
        for record in rewrapped {
          if let live = current.keyrings[record.name] {
            keyrings[record.name] = LiveKeyring(record: record, keys: live.keys)
          }
        }
        current.keyrings = keyrings
        phase = .unsealed(Unsealed(root: root, unsealKey: current.unsealKey, sealed: sealed, keyrings: keyrings))
      }
      return (unsealed.root.id, root.id)
    }
  }

  // MARK: Shared helpers

  func requireUnsealed() throws(KeyError) -> Unsealed {
    switch phase.withLock({ $0 }) {
    case .uninitialized: throw .notInitialized
    case .sealed: throw .sealed
    case let .unsealed(unsealed): return unsealed
    }
  }

  /// Runs a store call, reporting its failure as `storage` with what was being done.
  func attempt<T>(_ what: String, _ body: () throws -> T) throws(KeyError) -> T {
    do { return try body() } catch let error as KeyError { throw error } catch {
      throw .storage("cannot \(what): \(error)")
    }
  }

  static func wrappingAAD(keyring: String, version: UInt32) -> [UInt8] {
    var aad = Array("custos/keyring-key/v1".utf8)
    aad.append(0)
    KeyringCiphertext.appendUInt32(UInt32(keyring.utf8.count), to: &aad)
    aad.append(contentsOf: keyring.utf8)
    KeyringCiphertext.appendUInt32(version, to: &aad)
    return aad
  }

  static func wrap(_ key: SecretBytes, keyring: String, version: UInt32, root: RootKey) throws(KeyError) -> [UInt8] {
    let nonce = SecureRandom.bytes(AESGCM.standardNonceLength)
    do {
      let box = try root.secret.withUnsafeBytes { rootBytes in
        try key.withUnsafeBytes { try AESGCM.seal($0, key: rootBytes, nonce: nonce, associatedData: wrappingAAD(keyring: keyring, version: version)) }
      }
      return nonce + box.ciphertext + box.tag
    } catch {
      throw .corrupted("wrapping a keyring key failed: \(error)")
    }
  }

  static func unwrap(_ wrapped: [UInt8], keyring: String, version: UInt32, root: RootKey) throws(KeyError) -> SecretBytes {
    let n = AESGCM.standardNonceLength
    guard wrapped.count == n + 32 + AESGCM.tagLength else {
      throw .corrupted("keyring \"\(keyring)\" version \(version): the wrapped key has the wrong length")
    }
    let box = AESGCM.SealedBox(ciphertext: Array(wrapped[n..<(n + 32)]), tag: Array(wrapped[(n + 32)...]))
    do {
      return try root.secret.withUnsafeBytes {
        try AESGCM.open(box, key: $0, nonce: wrapped[0..<n], associatedData: wrappingAAD(keyring: keyring, version: version))
      }
    } catch {
      throw .corrupted("keyring \"\(keyring)\" version \(version): the wrapped key does not unwrap under the root key (altered in the database)")
    }
  }

  /// Unwraps a record's keys, keeping the usage counters (and unwrapped keys) of `previous` where the
  /// version is unchanged.
  static func live(_ record: KeyringRecord, root: RootKey, reusing previous: LiveKeyring?) throws(KeyError) -> LiveKeyring {
    var keys: [UInt32: LiveKey] = [:]
    for version in record.versions where !version.destroyed {
      if let existing = previous?.keys[version.version] {
        keys[version.version] = existing
      } else {
        keys[version.version] = try LiveKey(
          secret: try unwrap(version.wrappedKey, keyring: record.name, version: version.version, root: root),
          usage: UsageCounter(reserved: version.usageReserved), keyring: record.name, version: version.version)
      }
    }
    return LiveKeyring(record: record, keys: keys)
  }

  /// Wall-clock time in nanoseconds since the Unix epoch.
  public static func wallClockNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
  }
}
