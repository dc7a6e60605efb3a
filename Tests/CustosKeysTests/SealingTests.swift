import CustosCrypto
import Foundation
import Testing

@testable import CustosKeys

@Suite struct SealingTests {
  @Test func passphraseSealsAndUnsealsAcrossRestarts() throws {
    let fixture = KeyManagerFixture()
    let first = try fixture.open()
    #expect(first.status == .uninitialized)
    #expect(throws: KeyError.notInitialized) { try first.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase)) }
    let id = try first.initialize(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase))
    #expect(first.status == .unsealed(rootKeyID: id))
    #expect(throws: KeyError.alreadyInitialized) { try first.initialize(passphrase: KeyManagerFixture.secret("another passphrase")) }
    _ = try first.createKeyring(name: "orders")
    let ciphertext = try first.encrypt(keyring: "orders", plaintext: Array("card 4242".utf8), context: .empty).ciphertext

    let restarted = try fixture.open()
    #expect(restarted.status == .sealed(method: "passphrase", sharesGiven: 0, threshold: 0))
    #expect(throws: KeyError.sealed) { try restarted.encrypt(keyring: "orders", plaintext: [1], context: .empty) }
    #expect(throws: KeyError.unsealRefused("the passphrase does not unseal the root key")) {
      try restarted.unseal(passphrase: KeyManagerFixture.secret("wrong horse battery staple"))
    }
    #expect(restarted.status == .sealed(method: "passphrase", sharesGiven: 0, threshold: 0))
    #expect(try restarted.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase)) == id)
    #expect(bytes(try restarted.decrypt(keyring: "orders", ciphertext: ciphertext, context: .empty).plaintext) == Array("card 4242".utf8))

    try restarted.seal()
    #expect(throws: KeyError.sealed) { try restarted.decrypt(keyring: "orders", ciphertext: ciphertext, context: .empty) }
    #expect(throws: KeyError.sealed) { try restarted.keyrings() }
  }

  @Test func refusesShortPassphrases() throws {
    let manager = try KeyManagerFixture().open()
    #expect(throws: KeyError.self) { try manager.initialize(passphrase: KeyManagerFixture.secret("short")) }
    #expect(manager.status == .uninitialized)
  }

  @Test func tamperedSealedFileIsReportedAsSuch() throws {
    let fixture = KeyManagerFixture()
    _ = try fixture.initialized()
    let original = try #require(try fixture.rootStore.read().current)
    // Flip one base64 character of the ciphertext: the passphrase check still matches, GCM does not.
    var text = String(decoding: original, as: UTF8.self)
    let range = try #require(text.range(of: "\"ciphertext\":\""))
    let at = text.index(range.upperBound, offsetBy: 3)
    text.replaceSubrange(at...at, with: text[at] == "A" ? "B" : "A")
    fixture.rootStore.files.withLock { $0.current = Array(text.utf8) }
    let manager = try fixture.open()
    #expect {
      try manager.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase))
    } throws: { error in
      guard case let KeyError.sealedFileInvalid(why) = error else { return false }
      return why.contains("altered")
    }
    // Not JSON at all.
    fixture.rootStore.files.withLock { $0.current = Array("garbage".utf8) }
    #expect(throws: KeyError.self) { try fixture.open() }
  }

  @Test func everyThresholdSubsetOfSharesUnsealsAndNoSmallerOneDoes() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.open()
    let (id, shares) = try manager.initialize(shares: 5, threshold: 3)
    #expect(shares.count == 5)
    _ = try manager.createKeyring(name: "hr")
    let ciphertext = try manager.encrypt(keyring: "hr", plaintext: [42], context: .empty).ciphertext
    let texts = shares.map(\.text)
    #expect(Set(texts).count == 5)

    for subset in ShamirTests.subsets(5, 3) {
      let restarted = try fixture.open()
      var result: String?
      for (n, i) in subset.enumerated() {
        result = try restarted.unseal(share: UnsealShare(parsing: texts[i]))
        if n < 2 {
          #expect(result == nil)
          #expect(restarted.status == .sealed(method: "shamir", sharesGiven: n + 1, threshold: 3))
        }
      }
      #expect(result == id)
      #expect(bytes(try restarted.decrypt(keyring: "hr", ciphertext: ciphertext, context: .empty).plaintext) == [42])
    }
    for subset in ShamirTests.subsets(5, 2) {
      let restarted = try fixture.open()
      for i in subset { #expect(try restarted.unseal(share: UnsealShare(parsing: texts[i])) == nil) }
      #expect(throws: KeyError.sealed) { try restarted.decrypt(keyring: "hr", ciphertext: ciphertext, context: .empty) }
    }
  }

  @Test func corruptedRepeatedAndForeignSharesAreRefused() throws {
    let fixture = KeyManagerFixture()
    let (_, shares) = try fixture.open().initialize(shares: 3, threshold: 2)
    let other = try KeyManagerFixture().open().initialize(shares: 3, threshold: 2).shares
    let text = shares[0].text

    // A mistyped digit fails the checksum before anything is combined.
    var typo = Array(text)
    let position = text.count - 20
    typo[position] = typo[position] == "0" ? "1" : "0"
    #expect { try UnsealShare(parsing: String(typo)) } throws: { ($0 as? KeyError)?.description.contains("checksum") == true }
    #expect(throws: KeyError.self) { try UnsealShare(parsing: "not a share") }

    let manager = try fixture.open()
    #expect(try manager.unseal(share: UnsealShare(parsing: "  \(text)\n")) == nil)
    #expect { try manager.unseal(share: UnsealShare(parsing: text)) } throws: { ($0 as? KeyError)?.description.contains("already given") == true }
    #expect { try manager.unseal(share: other[1]) } throws: { ($0 as? KeyError)?.description.contains("another root key") == true }

    // A share whose checksum was recomputed over a changed key part combines to a wrong unseal key.
    let parts = shares[1].text.split(separator: "-")
    var keyPart = Array(parts[4])
    keyPart[0] = keyPart[0] == "a" ? "b" : "a"
    let body = parts[0..<4].joined(separator: "-") + "-" + String(keyPart)
    let forged = body + "-" + String(SHA256.hash(Array(body.utf8)).hex.prefix(8))
    #expect { try manager.unseal(share: UnsealShare(parsing: forged)) } throws: { error in
      guard case KeyError.unsealRefused = error else { return false }
      return true
    }
    // Progress was reset: two good shares unseal.
    #expect(manager.status == .sealed(method: "shamir", sharesGiven: 0, threshold: 2))
    #expect(try manager.unseal(share: shares[2]) == nil)
    #expect(try manager.unseal(share: shares[0]) != nil)
  }
}

extension SealingTests {
  @Test func aWrongPassphraseIsRefusedEvenWhenAlreadyUnsealed() throws {
    let manager = try KeyManagerFixture().initialized()
    #expect(throws: KeyError.unsealRefused("the passphrase does not unseal the root key")) {
      try manager.unseal(passphrase: KeyManagerFixture.secret("not the passphrase"))
    }
    #expect(try manager.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase)).count == 16)
  }
}
