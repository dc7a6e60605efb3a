import CustosCrypto

extension KeyManager {
  /// Destruction waits at least this long, so a mistaken or malicious request can be cancelled.
  public static let destroyWaitingDays: ClosedRange<Int> = 7...30
  public static let defaultDestroyWaitingDays = 30
  static let nanosecondsPerDay: Int64 = 86_400 * 1_000_000_000

  /// Creates a keyring with version 1. `rotationPeriodSeconds` 0 means no automatic rotation.
  public func createKeyring(name: String, rotationPeriodSeconds: Int64 = 0) throws(KeyError) -> KeyringInfo {
    try KeyManager.checkKeyringName(name)
    guard rotationPeriodSeconds == 0 || (3600...(10 * 365 * 86_400)).contains(rotationPeriodSeconds) else {
      throw .invalidArgument("rotation_period: must be 0 (off) or between 1 hour and 10 years, got \(rotationPeriodSeconds) s")
    }
    return try change(name, creating: true) { _, root, now throws(KeyError) in
      let key = SecretBytes.random(count: 32)
      let record = KeyringRecord(
        name: name, createdAt: now, latestVersion: 1, minDecryptionVersion: 1, minAvailableVersion: 1,
        rotationPeriodSeconds: rotationPeriodSeconds,
        versions: [KeyVersionRecord(version: 1, wrappedKey: try KeyManager.wrap(key, keyring: name, version: 1, root: root), createdAt: now)])
      return record
    }
  }

  /// One keyring's settings and versions.
  public func keyring(_ name: String) throws(KeyError) -> KeyringInfo {
    let unsealed = try requireUnsealed()
    guard let live = unsealed.keyrings[name] else { throw .keyringNotFound(name) }
    return live.info
  }

  /// Every keyring, by name.
  public func keyrings() throws(KeyError) -> [KeyringInfo] {
    try requireUnsealed().keyrings.values.map(\.info).sorted { $0.name < $1.name }
  }

  /// Adds a new latest version.
  public func rotate(keyring name: String) throws(KeyError) -> KeyringInfo {
    try rotate(keyring: name, ifLatestIs: nil)
  }

  /// Rotates unless another caller already did (`ifLatestIs` no longer latest): concurrent forced
  /// rotations of one exhausted version make one new version, not several.
  func rotate(keyring name: String, ifLatestIs expected: UInt32?) throws(KeyError) -> KeyringInfo {
    try change(name) { record, root, now throws(KeyError) in
      try KeyManager.checkUsable(record)
      if let expected, record.latestVersion != expected { return record }
      guard record.latestVersion < UInt32.max else { throw .failedPrecondition("keyring \"\(name)\" has no versions left") }
      var record = record
      let version = record.latestVersion + 1
      let key = SecretBytes.random(count: 32)
      record.versions.append(KeyVersionRecord(version: version, wrappedKey: try KeyManager.wrap(key, keyring: name, version: version, root: root), createdAt: now))
      record.latestVersion = version
      return record
    }
  }

  /// Versions below `version` stop decrypting (they stay stored until trimmed; lowering undoes it).
  public func setMinDecryptionVersion(keyring name: String, version: UInt32) throws(KeyError) -> KeyringInfo {
    try change(name) { record, _, _ throws(KeyError) in
      try KeyManager.checkUsable(record)
      guard version >= record.minAvailableVersion, version <= record.latestVersion else {
        throw .invalidArgument("min_decryption_version: must be between \(record.minAvailableVersion) (oldest available) and \(record.latestVersion) (latest), got \(version)")
      }
      var record = record
      record.minDecryptionVersion = version
      return record
    }
  }

  /// Deletes the key material of every version below `minAvailableVersion` for good. Only versions that
  /// already no longer decrypt (below the minimum decryption version) can be trimmed.
  public func trim(keyring name: String, minAvailableVersion: UInt32) throws(KeyError) -> KeyringInfo {
    try change(name) { record, _, _ throws(KeyError) in
      try KeyManager.checkUsable(record)
      guard minAvailableVersion >= record.minAvailableVersion, minAvailableVersion <= record.minDecryptionVersion else {
        throw .invalidArgument(
          "min_available_version: must be between \(record.minAvailableVersion) and the minimum decryption version \(record.minDecryptionVersion), got \(minAvailableVersion); raise the minimum decryption version first")
      }
      var record = record
      record.minAvailableVersion = minAvailableVersion
      record.versions.removeAll { $0.version < minAvailableVersion }
      return record
    }
  }

  /// Schedules destruction of one version (`version` non-nil) or the whole keyring after a waiting
  /// period of 7–30 days. Meanwhile it is unusable; `cancelDestroy` restores it.
  public func scheduleDestroy(keyring name: String, version: UInt32?, waitingDays: Int = KeyManager.defaultDestroyWaitingDays) throws(KeyError) -> KeyringInfo {
    guard KeyManager.destroyWaitingDays.contains(waitingDays) else {
      throw .invalidArgument("waiting_days: must be between 7 and 30, got \(waitingDays)")
    }
    return try change(name) { record, _, now throws(KeyError) in
      guard !record.destroyed else { throw .failedPrecondition("keyring \"\(name)\" was already destroyed") }
      var record = record
      let at = now + Int64(waitingDays) * KeyManager.nanosecondsPerDay
      guard let version else {
        guard record.destroyAt == nil else { throw .failedPrecondition("keyring \"\(name)\" is already scheduled for destruction") }
        record.destroyAt = at
        return record
      }
      guard version != record.latestVersion else {
        throw .failedPrecondition("version \(version) is the latest version of keyring \"\(name)\": rotate first, then destroy it")
      }
      guard let i = record.versions.firstIndex(where: { $0.version == version }) else {
        throw .invalidArgument("keyring \"\(name)\" has no version \(version) (available: \(record.minAvailableVersion)...\(record.latestVersion))")
      }
      guard !record.versions[i].destroyed else { throw .failedPrecondition("version \(version) of keyring \"\(name)\" was already destroyed") }
      guard record.versions[i].destroyAt == nil else {
        throw .failedPrecondition("version \(version) of keyring \"\(name)\" is already scheduled for destruction")
      }
      record.versions[i].destroyAt = at
      return record
    }
  }

  /// Cancels a pending destruction of a version or of the whole keyring.
  public func cancelDestroy(keyring name: String, version: UInt32?) throws(KeyError) -> KeyringInfo {
    try change(name) { record, _, _ throws(KeyError) in
      var record = record
      guard let version else {
        guard !record.destroyed else { throw .failedPrecondition("keyring \"\(name)\" was already destroyed; it cannot be restored") }
        guard record.destroyAt != nil else { throw .failedPrecondition("keyring \"\(name)\" is not scheduled for destruction") }
        record.destroyAt = nil
        return record
      }
      guard let i = record.versions.firstIndex(where: { $0.version == version }) else {
        throw .invalidArgument("keyring \"\(name)\" has no version \(version)")
      }
      guard !record.versions[i].destroyed else {
        throw .failedPrecondition("version \(version) of keyring \"\(name)\" was already destroyed; it cannot be restored")
      }
      guard record.versions[i].destroyAt != nil else {
        throw .failedPrecondition("version \(version) of keyring \"\(name)\" is not scheduled for destruction")
      }
      record.versions[i].destroyAt = nil
      return record
    }
  }

  /// What a maintenance pass did, for the ledger.
  public enum MaintenanceAction: Sendable, Equatable {
    case destroyedKeyring(String)
    case destroyedVersion(keyring: String, version: UInt32)
    case rotated(Rotation)
  }

  /// Carries out destructions whose waiting period is over and rotations whose period has elapsed.
  /// Sealed: nothing to do. Each keyring is its own store transaction.
  public func runMaintenance() throws(KeyError) -> [MaintenanceAction] {
    guard case let .unsealed(unsealed) = phase.withLock({ $0 }) else { return [] }
    let now = options.clock()
    var actions: [MaintenanceAction] = []
    for name in unsealed.keyrings.keys.sorted() {
      guard let record = unsealed.keyrings[name]?.record, !record.destroyed else { continue }
      if let at = record.destroyAt, at <= now {
        _ = try change(name) { record, _, _ throws(KeyError) in
          var record = record
          record.destroyed = true
          for i in record.versions.indices { record.versions[i].erase() }
          return record
        }
        actions.append(.destroyedKeyring(name))
        continue
      }
      let due = record.versions.filter { ($0.destroyAt ?? .max) <= now }.map(\.version)
      if !due.isEmpty {
        _ = try change(name) { record, _, _ throws(KeyError) in
          var record = record
          for i in record.versions.indices where due.contains(record.versions[i].version) { record.versions[i].erase() }
          return record
        }
        actions += due.map { .destroyedVersion(keyring: name, version: $0) }
      }
      if record.destroyAt == nil, record.rotationPeriodSeconds > 0,
        let latest = record.version(record.latestVersion),
        latest.createdAt + record.rotationPeriodSeconds * 1_000_000_000 <= now
      {
        let rotated = try rotate(keyring: name, ifLatestIs: record.latestVersion)
        actions.append(.rotated(Rotation(keyring: name, version: rotated.latestVersion, reason: .period)))
      }
    }
    return actions
  }

  // MARK: Helpers

  /// Applies one change to a keyring: computes the new record, writes it, then swaps it into memory.
  func change(
    _ name: String, creating: Bool = false,
    _ body: (KeyringRecord, RootKey, Int64) throws(KeyError) -> KeyringRecord
  ) throws(KeyError) -> KeyringInfo {
    try changes.withLock { _ throws(KeyError) -> KeyringInfo in
      let unsealed = try followRootRotation(try requireUnsealed())
      let existing = unsealed.keyrings[name]
      let now = options.clock()
      let updated: KeyringRecord
      if creating {
        guard existing == nil else { throw KeyError.keyringExists(name) }
        updated = try body(KeyringRecord(name: name, createdAt: now, latestVersion: 0, minDecryptionVersion: 0, minAvailableVersion: 0, rotationPeriodSeconds: 0, versions: []), unsealed.root, now)
        let live = try KeyManager.live(updated, root: unsealed.root, reusing: nil)
        try attempt("create keyring \"\(name)\"") { try storage.insertKeyring(updated) }
        install(live)
        return live.info
      }
      guard let existing else { throw KeyError.keyringNotFound(name) }
      updated = try body(existing.record, unsealed.root, now)
      if updated == existing.record { return existing.info }
      let live = try KeyManager.live(updated, root: unsealed.root, reusing: existing)
      try attempt("update keyring \"\(name)\"") { try storage.updateKeyring(updated) }
      install(live)
      return live.info
    }
  }

  private func install(_ live: LiveKeyring) {
    phase.withLock { phase in
      guard case var .unsealed(unsealed) = phase else { return }
      unsealed.keyrings[live.record.name] = live
      phase = .unsealed(unsealed)
    }
  }

  static func checkUsable(_ record: KeyringRecord) throws(KeyError) {
    if record.destroyed { throw .failedPrecondition("keyring \"\(record.name)\" was destroyed") }
    if record.destroyAt != nil { throw .failedPrecondition("keyring \"\(record.name)\" is scheduled for destruction; cancel it first") }
  }

  /// Keyring names: 1–128 characters of `[a-z0-9._-]`, starting with a letter or digit.
  static func checkKeyringName(_ name: String) throws(KeyError) {
    let bytes = Array(name.utf8)
    func allowed(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f || c == 0x2d }
    guard (1...128).contains(bytes.count), bytes.allSatisfy(allowed), bytes[0] != 0x2e, bytes[0] != 0x5f, bytes[0] != 0x2d else {
      throw .invalidArgument("keyring name: must be 1-128 characters of [a-z0-9._-] starting with a letter or digit, got \"\(name.prefix(140))\"")
    }
  }
}
