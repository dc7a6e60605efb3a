/// What operators see of a keyring: settings and versions, never key material.
public struct KeyringInfo: Sendable, Equatable {
  public struct Version: Sendable, Equatable {
    public let version: UInt32
    public let createdAt: Int64
    /// Encryptions so far (may over-count by one reservation block after a restart).
    public let encryptions: UInt64
    public let destroyAt: Int64?
    public let destroyed: Bool
  }

  public let name: String
  public let createdAt: Int64
  public let latestVersion: UInt32
  public let minDecryptionVersion: UInt32
  public let minAvailableVersion: UInt32
  public let rotationPeriodSeconds: Int64
  public let destroyAt: Int64?
  public let destroyed: Bool
  public let versions: [Version]
}

extension KeyManager.LiveKeyring {
  var info: KeyringInfo {
    KeyringInfo(
      name: record.name, createdAt: record.createdAt, latestVersion: record.latestVersion,
      minDecryptionVersion: record.minDecryptionVersion, minAvailableVersion: record.minAvailableVersion,
      rotationPeriodSeconds: record.rotationPeriodSeconds, destroyAt: record.destroyAt, destroyed: record.destroyed,
      versions: record.versions.map { version in
        KeyringInfo.Version(
          version: version.version, createdAt: version.createdAt,
          encryptions: keys[version.version]?.usage.used ?? version.usageReserved, destroyAt: version.destroyAt,
          destroyed: version.destroyed)
      })
  }
}
