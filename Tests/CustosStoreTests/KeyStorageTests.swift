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

  /// Reservations are taken, not set: each caller gets the next block, never past the limit, and
  /// several handles on one database (nodes) drawing at once never get overlapping blocks.
  @Test(arguments: StoreKind.allCases) func usageReservationsAreTakenAtomically(_ kind: StoreKind) async throws {
    let store = try TestStore(kind)
    let storage = try store.open().keyStorage
    try storage.insertKeyring(Self.keyring("k", versions: [1]))
    #expect(try storage.reserveUsage(keyring: "k", version: 1, count: 100, limit: 1_000) == 0..<100)
    #expect(try storage.reserveUsage(keyring: "k", version: 1, count: 100, limit: 1_000) == 100..<200)
    // A whole-keyring write carrying an older reservation does not lower it.
    try storage.updateKeyring(Self.keyring("k", versions: [1], usage: 5))
    #expect(try storage.loadKeyrings()[0].versions[0].usageReserved == 200)
    #expect(throws: (any Error).self) { try storage.reserveUsage(keyring: "k", version: 9, count: 1, limit: 10) }

    let handles = try (0..<3).map { _ in try store.open().keyStorage }
    let blocks = try await withThrowingTaskGroup(of: [Range<UInt64>].self) { group in
      for handle in handles {
        group.addTask {
          try (0..<20).map { _ in try handle.reserveUsage(keyring: "k", version: 1, count: 10, limit: 700) }
        }
      }
      return try await group.reduce(into: []) { $0 += $1 }
    }
    let taken = blocks.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
    #expect(taken.count == 50, "500 uses from 200 to the limit of 700, in blocks of 10")
    for (a, b) in zip(taken, taken.dropFirst()) { #expect(a.upperBound == b.lowerBound, "\(a) and \(b) overlap or leave a gap") }
    #expect(taken.first?.lowerBound == 200 && taken.last?.upperBound == 700)
    #expect(try storage.reserveUsage(keyring: "k", version: 1, count: 10, limit: 700).isEmpty)
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
