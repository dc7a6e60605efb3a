import CustosCrypto
import Testing

@testable import CustosKeys

@Suite struct RootRotationTests {
  struct Crash: Error {}

  @Test func rotationRewrapsEverythingAndTheOldRootIsGone() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "a")
    _ = try manager.createKeyring(name: "b")
    _ = try manager.rotate(keyring: "b")
    let ciphertexts = try ["a", "b"].map { try manager.encrypt(keyring: $0, plaintext: Array($0.utf8), context: .empty).ciphertext }
    let before = fixture.storage.contents.withLock { $0.keyrings }
    let (old, new) = try manager.rotateRoot()
    #expect(old != new)
    let after = fixture.storage.contents.withLock { $0 }
    #expect(after.rootKeyID == new)
    for name in ["a", "b"] {
      for (x, y) in zip(before[name]!.versions, after.keyrings[name]!.versions) { #expect(x.wrappedKey != y.wrappedKey) }
    }
    #expect(try fixture.rootStore.read().next == nil)
    #expect(try SealedRootKey(decoding: try #require(try fixture.rootStore.read().current)).rootKeyID == new)
    for (name, ciphertext) in zip(["a", "b"], ciphertexts) {
      #expect(bytes(try manager.decrypt(keyring: name, ciphertext: ciphertext, context: .empty).plaintext) == Array(name.utf8))
    }
    let restarted = try fixture.open()
    #expect(try restarted.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase)) == new)
    #expect(bytes(try restarted.decrypt(keyring: "b", ciphertext: ciphertexts[1], context: .empty).plaintext) == Array("b".utf8))
  }

  /// A crash after each step of the rotation: a restart unseals with the same passphrase and every
  /// ciphertext still decrypts, under the old root key or the new one.
  @Test(arguments: ["rotate-root.staged", "rotate-root.committed", "rotate-root.promoted"])
  func aCrashAtAnyStepLeavesOneWorkingRootKey(step: String) throws {
    var fixture = KeyManagerFixture()
    fixture.options.failpoint = { if $0 == step { throw Crash() } }
    let manager = try fixture.initialized()
    let oldID = try #require({ if case let .unsealed(id) = manager.status { return id } else { return nil } }())
    _ = try manager.createKeyring(name: "ledgerbackup")
    let ciphertext = try manager.encrypt(keyring: "ledgerbackup", plaintext: [9, 9], context: .empty).ciphertext
    #expect(throws: KeyError.self) { try manager.rotateRoot() }

    fixture.options.failpoint = { _ in }
    let restarted = try fixture.open()
    let id = try restarted.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase))
    #expect(step == "rotate-root.staged" ? id == oldID : id != oldID)
    #expect(try fixture.rootStore.read().next == nil)
    #expect(bytes(try restarted.decrypt(keyring: "ledgerbackup", ciphertext: ciphertext, context: .empty).plaintext) == [9, 9])
  }

  @Test func shamirSharesStillUnsealAfterRotation() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.open()
    let (_, shares) = try manager.initialize(shares: 3, threshold: 2)
    _ = try manager.createKeyring(name: "x")
    let (_, new) = try manager.rotateRoot()
    let restarted = try fixture.open()
    #expect(try restarted.unseal(share: shares[0]) == nil)
    #expect(try restarted.unseal(share: shares[2]) == new)
  }
}
