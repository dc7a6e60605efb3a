import CustosCrypto
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension KeyManager {
  /// A ciphertext and the version that made it. `rotation` is set when the version had reached its
  /// usage limit and Encrypt rotated the keyring first (the caller audits it).
  public struct Encrypted: Sendable {
    public let ciphertext: [UInt8]
    public let version: UInt32
    public let rotation: Rotation?
  }

  /// A rotation the manager performed itself.
  public struct Rotation: Sendable, Equatable {
    public enum Reason: String, Sendable { case usageLimit = "usage_limit", period = "rotation_period", requested }
    public let keyring: String
    public let version: UInt32
    public let reason: Reason
  }

  /// Encrypts under the keyring's latest version, binding the encryption context.
  public func encrypt(keyring name: String, plaintext: some RawBytes, context: EncryptionContext) throws(KeyError) -> Encrypted {
    let count = plaintext.withUnsafeBytes { $0.count }
    guard count > 0 else { throw .invalidArgument("plaintext: empty (nothing to encrypt)") }
    guard count <= options.maximumPlaintextBytes else {
      throw .invalidArgument("plaintext: \(count) bytes exceeds the limit of \(options.maximumPlaintextBytes)")
    }
    var rotation: Rotation?
    // A version at its usage limit is rotated away once; the new version cannot be at its limit.
    for _ in 0..<2 {
      let live = try usableKeyring(name)
      let version = live.record.latestVersion
      guard let key = live.keys[version] else {
        throw .failedPrecondition("keyring \"\(name)\": the latest version \(version) is not usable; rotate the keyring")
      }
      if let destroyAt = live.record.version(version)?.destroyAt {
        throw .failedPrecondition("keyring \"\(name)\": the latest version \(version) is scheduled for destruction at \(destroyAt); rotate or cancel")
      }
      let taken = try key.usage.take(limit: options.maximumEncryptionsPerVersion, block: options.usageReservationBlock) {
        (count: UInt64) throws(KeyError) -> Range<UInt64> in
        try attempt("reserve key usage") {
          try storage.reserveUsage(keyring: name, version: version, count: count, limit: options.maximumEncryptionsPerVersion)
        }
      }
      if taken {
        let ciphertext = try KeyringCiphertext.seal(plaintext, key: key.prepared, version: version, aadPrefix: key.aadPrefix, context: context)
        return Encrypted(ciphertext: ciphertext, version: version, rotation: rotation)
      }
      let rotated = try rotate(keyring: name, ifLatestIs: version)
      rotation = Rotation(keyring: name, version: rotated.latestVersion, reason: .usageLimit)
    }
    throw .corrupted("keyring \"\(name)\": a freshly rotated version is already at its usage limit")
  }

  /// Decrypts a keyring ciphertext made with the same encryption context.
  public func decrypt(keyring name: String, ciphertext: [UInt8], context: EncryptionContext) throws(KeyError) -> (plaintext: SecretBytes, version: UInt32) {
    let version = try KeyringCiphertext.version(of: ciphertext)
    let live = try usableKeyring(name)
    let key = try decryptionKey(live, version: version)
    return (try KeyringCiphertext.open(ciphertext, key: key.prepared, keyring: name, version: version, aadPrefix: key.aadPrefix, context: context), version)
  }

  /// Re-encrypts a ciphertext under the latest version; the plaintext never leaves the manager.
  public func rewrap(keyring name: String, ciphertext: [UInt8], context: EncryptionContext) throws(KeyError) -> (encrypted: Encrypted, fromVersion: UInt32) {
    let opened = try decrypt(keyring: name, ciphertext: ciphertext, context: context)
    return (try encrypt(keyring: name, plaintext: opened.plaintext, context: context), opened.version)
  }

  /// A fresh 256-bit data key and its ciphertext under the keyring (envelope encryption).
  public func generateDataKey(keyring name: String, context: EncryptionContext) throws(KeyError) -> (plaintext: SecretBytes, encrypted: Encrypted) {
    let key = SecretBytes.random(count: 32)
    return (key, try encrypt(keyring: name, plaintext: key, context: context))
  }

  /// The keyring, if it may be used at all (exists, not destroyed or pending destruction).
  func usableKeyring(_ name: String) throws(KeyError) -> LiveKeyring {
    let unsealed = try requireUnsealed()
    guard let live = unsealed.keyrings[name] else { throw .keyringNotFound(name) }
    if live.record.destroyed { throw .failedPrecondition("keyring \"\(name)\" was destroyed") }
    if let at = live.record.destroyAt {
      throw .failedPrecondition("keyring \"\(name)\" is scheduled for destruction at \(KeyManager.timestamp(at)); cancel it to use the keyring")
    }
    return live
  }

  func decryptionKey(_ live: LiveKeyring, version: UInt32) throws(KeyError) -> LiveKey {
    let record = live.record
    let name = record.name
    guard version >= 1, version <= record.latestVersion else {
      throw .invalidArgument("ciphertext names version \(version) of keyring \"\(name)\", which does not exist (latest is \(record.latestVersion))")
    }
    guard version >= record.minAvailableVersion else {
      throw .failedPrecondition("version \(version) of keyring \"\(name)\" was trimmed (oldest available is \(record.minAvailableVersion))")
    }
    guard version >= record.minDecryptionVersion else {
      throw .failedPrecondition("version \(version) of keyring \"\(name)\" is below the minimum decryption version \(record.minDecryptionVersion)")
    }
    guard let stored = record.version(version) else {
      throw .failedPrecondition("version \(version) of keyring \"\(name)\" is not available")
    }
    if stored.destroyed { throw .failedPrecondition("version \(version) of keyring \"\(name)\" was destroyed") }
    if let at = stored.destroyAt {
      throw .failedPrecondition("version \(version) of keyring \"\(name)\" is scheduled for destruction at \(KeyManager.timestamp(at)); cancel it to decrypt")
    }
    guard let key = live.keys[version] else { throw .corrupted("version \(version) of keyring \"\(name)\" has no unwrapped key") }
    return key
  }

  /// RFC 3339 UTC, seconds precision, for messages.
  static func timestamp(_ nanoseconds: Int64) -> String {
    var seconds = time_t(nanoseconds / 1_000_000_000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
  }
}
