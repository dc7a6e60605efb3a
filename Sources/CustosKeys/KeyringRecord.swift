/// One version of a keyring's AES-256 key as stored: wrapped by the root key.
public struct KeyVersionRecord: Sendable, Equatable, Codable {
  public var version: UInt32
  /// nonce || ciphertext || tag of the 32-byte key under the root key; empty once destroyed.
  public var wrappedKey: [UInt8]
  /// Nanoseconds since the Unix epoch.
  public var createdAt: Int64
  /// Encryptions this version may have performed: reserved in blocks before use, so the count survives
  /// a restart (it can only over-count).
  public var usageReserved: UInt64
  /// When a scheduled destruction takes effect (nanoseconds); the version is unusable meanwhile.
  public var destroyAt: Int64?
  /// The key material has been erased.
  public var destroyed: Bool

  public init(
    version: UInt32, wrappedKey: [UInt8], createdAt: Int64, usageReserved: UInt64 = 0, destroyAt: Int64? = nil,
    destroyed: Bool = false
  ) {
    self.version = version
    self.wrappedKey = wrappedKey
    self.createdAt = createdAt
    self.usageReserved = usageReserved
    self.destroyAt = destroyAt
    self.destroyed = destroyed
  }

  /// Deletes the key material for good (the version number stays, marked destroyed).
  mutating func erase() {
    wrappedKey = []
    destroyed = true
    destroyAt = nil
  }
}

/// A named keyring as stored: its settings and its versions still present (trimmed ones are gone).
public struct KeyringRecord: Sendable, Equatable, Codable {
  public var name: String
  public var createdAt: Int64
  public var latestVersion: UInt32
  /// Versions below this do not decrypt (they may still be present until trimmed).
  public var minDecryptionVersion: UInt32
  /// Versions below this were trimmed: their key material is deleted.
  public var minAvailableVersion: UInt32
  /// Automatic rotation period in seconds; 0 turns it off.
  public var rotationPeriodSeconds: Int64
  /// When a scheduled destruction of the whole keyring takes effect (nanoseconds).
  public var destroyAt: Int64?
  public var destroyed: Bool
  /// Present versions, ascending.
  public var versions: [KeyVersionRecord]

  public init(
    name: String, createdAt: Int64, latestVersion: UInt32, minDecryptionVersion: UInt32, minAvailableVersion: UInt32,
    rotationPeriodSeconds: Int64, destroyAt: Int64? = nil, destroyed: Bool = false, versions: [KeyVersionRecord]
  ) {
    self.name = name
    self.createdAt = createdAt
    self.latestVersion = latestVersion
    self.minDecryptionVersion = minDecryptionVersion
    self.minAvailableVersion = minAvailableVersion
    self.rotationPeriodSeconds = rotationPeriodSeconds
    self.destroyAt = destroyAt
    self.destroyed = destroyed
    self.versions = versions
  }

  /// The stored version `number`, if present.
  public func version(_ number: UInt32) -> KeyVersionRecord? {
    versions.first { $0.version == number }
  }
}
