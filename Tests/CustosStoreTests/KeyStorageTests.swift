import CustosKeys
import CustosStoreTestSupport
import Foundation
import Testing

@testable import CustosStore

/// Keyring storage on each store.
@Suite struct KeyStorageTests {
  static func store(_ kind: StoreKind) throws -> any Store { try TestStore(kind).open() }

  static func keyring(_ name: String, versions: [UInt32], usage: UInt64 = 0) -> KeyringRecord {
    KeyringRecord(
      name: name, createdAt: 1, latestVersion: versions.last ?? 0, minDecryptionVersion: versions.first ?? 0,
      minAvailableVersion: versions.first ?? 0, rotationPeriodSeconds: 0,
      versions: versions.map { KeyVersionRecord(version: $0, wrappedKey: [UInt8](repeating: UInt8($0), count: 60), createdAt: Int64($0), usageReserved: usage) })
  }

  @Test(arguments: StoreKind.allCases) func keyringsRoundTripAndTrimmedVersionsAreDeleted(_ kind: StoreKind) throws {
    let storage = try Self.store(kind).keyStorage
    #expect(try storage.rootKeyID() == nil)
    try storage.setRootKeyID("00112233aabbccdd")
    var ring = Self.keyring("orders", versions: [1, 2, 3])
    ring.versions[0].destroyAt = 99
    try storage.insertKeyring(ring)
    #expect(throws: (any Error).self) { try storage.insertKeyring(ring) }
    #expect(try storage.loadKeyrings() == [ring])

    ring.versions.removeFirst()
    ring.minAvailableVersion = 2
    ring.destroyAt = 1234
    try storage.updateKeyring(ring)
    #expect(try storage.loadKeyrings() == [ring])
    #expect(throws: (any Error).self) { try storage.updateKeyring(Self.keyring("missing", versions: [1])) }
  }

  @Test(arguments: StoreKind.allCases) func aUsageReservationIsNeverLowered(_ kind: StoreKind) throws {
    let storage = try Self.store(kind).keyStorage
    try storage.insertKeyring(Self.keyring("k", versions: [1]))
    try storage.reserveUsage(keyring: "k", version: 1, through: 65_536)
    try storage.reserveUsage(keyring: "k", version: 1, through: 10)
    // A concurrent whole-keyring write carrying an older reservation does not lower it either.
    try storage.updateKeyring(Self.keyring("k", versions: [1], usage: 5))
    #expect(try storage.loadKeyrings()[0].versions[0].usageReserved == 65_536)
    #expect(throws: (any Error).self) { try storage.reserveUsage(keyring: "k", version: 9, through: 1) }
  }

  @Test(arguments: StoreKind.allCases) func rewrappingIsAllOrNothing(_ kind: StoreKind) throws {
    let storage = try Self.store(kind).keyStorage
    try storage.setRootKeyID("old")
    try storage.insertKeyring(Self.keyring("a", versions: [1]))
    var rewrapped = Self.keyring("a", versions: [1])
    rewrapped.versions[0].wrappedKey = [UInt8](repeating: 0xee, count: 60)
    // The second keyring is not stored: the whole rotation must fail and change nothing.
    #expect(throws: (any Error).self) { try storage.replaceWrappedKeys([rewrapped, Self.keyring("ghost", versions: [1])], rootKeyID: "new") }
    #expect(try storage.rootKeyID() == "old")
    #expect(try storage.loadKeyrings()[0].versions[0].wrappedKey == [UInt8](repeating: 1, count: 60))
    try storage.replaceWrappedKeys([rewrapped], rootKeyID: "new")
    #expect(try storage.rootKeyID() == "new")
    #expect(try storage.loadKeyrings()[0].versions[0].wrappedKey == [UInt8](repeating: 0xee, count: 60))
  }
}

/// The sealed root key's place on each deployment: files in `keys/` beside SQLite, a table in PostgreSQL.
@Suite struct SealedRootKeyStoreTests {
  @Test(arguments: StoreKind.allCases) func createStagePromoteAndDiscard(_ kind: StoreKind) throws {
    let sealed = try TestStore(kind).sealedRootKeyStore()
    #expect(try sealed.read().current == nil && sealed.read().next == nil)
    try sealed.create([1, 2, 3])
    #expect(throws: (any Error).self) { try sealed.create([9]) }
    try sealed.stage([4, 5])
    try sealed.stage([6, 7])  // a newer staged successor replaces the older one
    #expect(try sealed.read().current == [1, 2, 3] && sealed.read().next == [6, 7])
    try sealed.promoteStaged()
    #expect(try sealed.read().current == [6, 7] && sealed.read().next == nil)
    try sealed.stage([8])
    try sealed.discardStaged()
    try sealed.discardStaged()
    #expect(try sealed.read().current == [6, 7] && sealed.read().next == nil)
  }
}
