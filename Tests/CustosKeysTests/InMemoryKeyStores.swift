import CustosKeys
import Synchronization

/// Key storage in memory, with the atomicity the protocol promises (each call all or nothing).
final class InMemoryKeyStorage: KeyStorage {
  struct Contents: Sendable {
    var rootKeyID: String?
    var keyrings: [String: KeyringRecord] = [:]
  }

  let contents = Mutex(Contents())

  struct Refused: Error {}

  func rootKeyID() throws -> String? { contents.withLock { $0.rootKeyID } }
  func setRootKeyID(_ id: String) throws { contents.withLock { $0.rootKeyID = id } }
  func loadKeyrings() throws -> [KeyringRecord] { contents.withLock { $0.keyrings.values.sorted { $0.name < $1.name } } }

  func insertKeyring(_ keyring: KeyringRecord) throws {
    try contents.withLock {
      guard $0.keyrings[keyring.name] == nil else { throw Refused() }
      $0.keyrings[keyring.name] = keyring
    }
  }

  func updateKeyring(_ keyring: KeyringRecord) throws {
    try contents.withLock { try Self.update(keyring, in: &$0) }
  }

  func reserveUsage(keyring: String, version: UInt32, count: UInt64, limit: UInt64) throws -> Range<UInt64> {
    try contents.withLock {
      guard let i = $0.keyrings[keyring]?.versions.firstIndex(where: { $0.version == version }) else { throw Refused() }
      let old = $0.keyrings[keyring]!.versions[i].usageReserved
      let new = max(old, min(limit, old &+ count))
      $0.keyrings[keyring]!.versions[i].usageReserved = new
      return old..<new
    }
  }

  func replaceWrappedKeys(_ keyrings: [KeyringRecord], rootKeyID: String) throws {
    try contents.withLock { contents in
      var copy = contents
      for keyring in keyrings { try Self.update(keyring, in: &copy) }
      copy.rootKeyID = rootKeyID
      contents = copy
    }
  }

  private static func update(_ keyring: KeyringRecord, in contents: inout Contents) throws {
    guard let old = contents.keyrings[keyring.name] else { throw Refused() }
    var updated = keyring
    for i in updated.versions.indices {
      if let previous = old.version(updated.versions[i].version) {
        updated.versions[i].usageReserved = max(updated.versions[i].usageReserved, previous.usageReserved)
      }
    }
    contents.keyrings[keyring.name] = updated
  }
}

/// The sealed root-key files in memory.
final class InMemorySealedRootStore: SealedRootKeyStore {
  let files = Mutex<(current: [UInt8]?, next: [UInt8]?)>((nil, nil))

  struct Refused: Error {}

  func read() throws -> (current: [UInt8]?, next: [UInt8]?) { files.withLock { $0 } }
  func create(_ sealed: [UInt8]) throws {
    try files.withLock {
      guard $0.current == nil else { throw Refused() }
      $0.current = sealed
    }
  }
  func stage(_ sealed: [UInt8]) throws { files.withLock { $0.next = sealed } }
  func promoteStaged() throws {
    try files.withLock {
      guard let next = $0.next else { throw Refused() }
      $0 = (next, nil)
    }
  }
  func discardStaged() throws { files.withLock { $0.next = nil } }
}
