import CustosCrypto
import Testing

@testable import CustosKeys

@Suite struct KeyringTests {
  let context = try! EncryptionContext(["tenant": "acme", "table": "invoices"])

  @Test func encryptDecryptBindsKeyringVersionAndContext() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "billing")
    _ = try manager.createKeyring(name: "crm")
    let plaintext = Array("IBAN DE89 3704 0044 0532 0130 00".utf8)
    let encrypted = try manager.encrypt(keyring: "billing", plaintext: plaintext, context: context)
    #expect(encrypted.version == 1)
    #expect(encrypted.ciphertext.count == plaintext.count + KeyringCiphertext.overhead)
    #expect(encrypted.ciphertext[0] == 0x01)
    #expect(Array(encrypted.ciphertext[1..<5]) == [0, 0, 0, 1])
    #expect(bytes(try manager.decrypt(keyring: "billing", ciphertext: encrypted.ciphertext, context: context).plaintext) == plaintext)

    func refusedAsDecryptionFailure(_ body: () throws -> Void) {
      #expect { try body() } throws: { error in
        guard case KeyError.decryptionFailed = error else { return false }
        return true
      }
    }
    refusedAsDecryptionFailure { _ = try manager.decrypt(keyring: "billing", ciphertext: encrypted.ciphertext, context: .empty) }
    refusedAsDecryptionFailure {
      _ = try manager.decrypt(keyring: "billing", ciphertext: encrypted.ciphertext, context: EncryptionContext(["tenant": "acme", "table": "orders"]))
    }
    refusedAsDecryptionFailure { _ = try manager.decrypt(keyring: "crm", ciphertext: encrypted.ciphertext, context: context) }
    for position in [0, 5, 17, encrypted.ciphertext.count - 1] where position != 0 {
      var tampered = encrypted.ciphertext
      tampered[position] ^= 0x01
      refusedAsDecryptionFailure { _ = try manager.decrypt(keyring: "billing", ciphertext: tampered, context: context) }
    }
    var wrongFormat = encrypted.ciphertext
    wrongFormat[0] = 0x02
    #expect(throws: KeyError.invalidArgument("ciphertext: unknown format byte 0x02 (expected 0x01)")) {
      try manager.decrypt(keyring: "billing", ciphertext: wrongFormat, context: context)
    }
    var futureVersion = encrypted.ciphertext
    futureVersion[4] = 9
    #expect(throws: KeyError.self) { try manager.decrypt(keyring: "billing", ciphertext: futureVersion, context: context) }
    #expect(throws: KeyError.self) { try manager.decrypt(keyring: "billing", ciphertext: [1, 0, 0, 0, 1], context: context) }
    #expect(throws: KeyError.keyringNotFound("nope")) { try manager.encrypt(keyring: "nope", plaintext: [1], context: context) }
    #expect(throws: KeyError.invalidArgument("plaintext: empty (nothing to encrypt)")) {
      try manager.encrypt(keyring: "billing", plaintext: [UInt8](), context: context)
    }
    #expect(throws: KeyError.self) { try manager.encrypt(keyring: "billing", plaintext: [UInt8](repeating: 0, count: (1 << 20) + 1), context: context) }
  }

  @Test func namesAndSettingsAreValidated() throws {
    let manager = try KeyManagerFixture().initialized()
    for bad in ["", "Upper", "has space", "-lead", String(repeating: "a", count: 129), "ünï"] {
      #expect(throws: KeyError.self) { try manager.createKeyring(name: bad) }
    }
    #expect(throws: KeyError.self) { try manager.createKeyring(name: "ok", rotationPeriodSeconds: 60) }
    _ = try manager.createKeyring(name: "ok.v2_x-1")
    #expect(throws: KeyError.keyringExists("ok.v2_x-1")) { try manager.createKeyring(name: "ok.v2_x-1") }
    #expect(throws: KeyError.self) { try EncryptionContext(["": "x"]) }
    #expect(throws: KeyError.self) { try EncryptionContext(Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })) }
  }

  @Test func rotateRewrapMinimumVersionAndTrim() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "docs")
    let v1 = try manager.encrypt(keyring: "docs", plaintext: [1, 2, 3], context: context).ciphertext
    #expect(try manager.rotate(keyring: "docs").latestVersion == 2)
    _ = try manager.rotate(keyring: "docs")
    let v3 = try manager.encrypt(keyring: "docs", plaintext: [4, 5], context: context)
    #expect(v3.version == 3)
    #expect(bytes(try manager.decrypt(keyring: "docs", ciphertext: v1, context: context).plaintext) == [1, 2, 3])

    let rewrapped = try manager.rewrap(keyring: "docs", ciphertext: v1, context: context)
    #expect(rewrapped.fromVersion == 1)
    #expect(rewrapped.encrypted.version == 3)
    #expect(bytes(try manager.decrypt(keyring: "docs", ciphertext: rewrapped.encrypted.ciphertext, context: context).plaintext) == [1, 2, 3])

    #expect(throws: KeyError.self) { try manager.trim(keyring: "docs", minAvailableVersion: 2) }  // min decryption is still 1
    #expect(throws: KeyError.self) { try manager.setMinDecryptionVersion(keyring: "docs", version: 4) }
    _ = try manager.setMinDecryptionVersion(keyring: "docs", version: 2)
    #expect { try manager.decrypt(keyring: "docs", ciphertext: v1, context: context) } throws: {
      ($0 as? KeyError)?.description.contains("below the minimum decryption version 2") == true
    }
    let trimmed = try manager.trim(keyring: "docs", minAvailableVersion: 2)
    #expect(trimmed.versions.map(\.version) == [2, 3])
    #expect { try manager.decrypt(keyring: "docs", ciphertext: v1, context: context) } throws: {
      ($0 as? KeyError)?.description.contains("was trimmed") == true
    }
    #expect(throws: KeyError.self) { try manager.setMinDecryptionVersion(keyring: "docs", version: 1) }

    // All of it survives a restart.
    let restarted = try fixture.open()
    _ = try restarted.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase))
    let info = try restarted.keyring("docs")
    #expect(info.latestVersion == 3 && info.minDecryptionVersion == 2 && info.minAvailableVersion == 2)
    #expect(fixture.storage.contents.withLock { $0.keyrings["docs"]!.versions.map(\.version) } == [2, 3])
    #expect(bytes(try restarted.decrypt(keyring: "docs", ciphertext: v3.ciphertext, context: context).plaintext) == [4, 5])
  }

  @Test func scheduledDestructionWaitsCanBeCancelledAndThenErases() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "pii")
    let v1 = try manager.encrypt(keyring: "pii", plaintext: [7], context: context).ciphertext
    #expect(throws: KeyError.self) { try manager.scheduleDestroy(keyring: "pii", version: 1) }  // the latest
    _ = try manager.rotate(keyring: "pii")
    #expect(throws: KeyError.self) { try manager.scheduleDestroy(keyring: "pii", version: 1, waitingDays: 6) }
    #expect(throws: KeyError.self) { try manager.scheduleDestroy(keyring: "pii", version: 1, waitingDays: 31) }
    let scheduled = try manager.scheduleDestroy(keyring: "pii", version: 1, waitingDays: 7)
    #expect(scheduled.versions[0].destroyAt == fixture.now.value + 7 * 86_400 * 1_000_000_000)
    #expect { try manager.decrypt(keyring: "pii", ciphertext: v1, context: context) } throws: {
      ($0 as? KeyError)?.description.contains("scheduled for destruction") == true
    }
    _ = try manager.cancelDestroy(keyring: "pii", version: 1)
    #expect(bytes(try manager.decrypt(keyring: "pii", ciphertext: v1, context: context).plaintext) == [7])
    #expect(throws: KeyError.self) { try manager.cancelDestroy(keyring: "pii", version: 1) }

    _ = try manager.scheduleDestroy(keyring: "pii", version: 1, waitingDays: 7)
    fixture.now.advance(days: 6)
    #expect(try manager.runMaintenance() == [])
    fixture.now.advance(days: 1)
    #expect(try manager.runMaintenance() == [.destroyedVersion(keyring: "pii", version: 1)])
    #expect { try manager.decrypt(keyring: "pii", ciphertext: v1, context: context) } throws: {
      ($0 as? KeyError)?.description.contains("was destroyed") == true
    }
    #expect(fixture.storage.contents.withLock { $0.keyrings["pii"]!.version(1)!.wrappedKey.isEmpty })
    #expect(throws: KeyError.self) { try manager.cancelDestroy(keyring: "pii", version: 1) }

    // The whole keyring.
    let v2 = try manager.encrypt(keyring: "pii", plaintext: [8], context: context).ciphertext
    _ = try manager.scheduleDestroy(keyring: "pii", version: nil)
    #expect(throws: KeyError.self) { try manager.encrypt(keyring: "pii", plaintext: [1], context: context) }
    _ = try manager.cancelDestroy(keyring: "pii", version: nil)
    #expect(bytes(try manager.decrypt(keyring: "pii", ciphertext: v2, context: context).plaintext) == [8])
    _ = try manager.scheduleDestroy(keyring: "pii", version: nil)
    fixture.now.advance(days: 30)
    #expect(try manager.runMaintenance() == [.destroyedKeyring("pii")])
    #expect(throws: KeyError.failedPrecondition("keyring \"pii\" was destroyed")) { try manager.decrypt(keyring: "pii", ciphertext: v2, context: context) }
    #expect(throws: KeyError.keyringExists("pii")) { try manager.createKeyring(name: "pii") }
    #expect(fixture.storage.contents.withLock { $0.keyrings["pii"]!.versions.allSatisfy { $0.wrappedKey.isEmpty && $0.destroyed } })
  }

  @Test func usageLimitForcesRotationAndTheCountSurvivesRestarts() throws {
    let fixture = KeyManagerFixture { options in
      options.maximumEncryptionsPerVersion = 5
      options.usageReservationBlock = 2
    }
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "tokens")
    for _ in 0..<3 { #expect(try manager.encrypt(keyring: "tokens", plaintext: [1], context: .empty).version == 1) }
    #expect(try manager.keyring("tokens").versions[0].encryptions == 3)
    #expect(fixture.storage.contents.withLock { $0.keyrings["tokens"]!.versions[0].usageReserved } == 4)

    // After a restart the reservation (4) counts as used: one more use, then a forced rotation.
    let restarted = try fixture.open()
    _ = try restarted.unseal(passphrase: KeyManagerFixture.secret(KeyManagerFixture.passphrase))
    #expect(try restarted.keyring("tokens").versions[0].encryptions == 4)
    let fifth = try restarted.encrypt(keyring: "tokens", plaintext: [1], context: .empty)
    #expect(fifth.version == 1 && fifth.rotation == nil)
    let sixth = try restarted.encrypt(keyring: "tokens", plaintext: [1], context: .empty)
    #expect(sixth.version == 2)
    #expect(sixth.rotation == KeyManager.Rotation(keyring: "tokens", version: 2, reason: .usageLimit))
    #expect(try restarted.keyring("tokens").versions.map(\.encryptions) == [5, 1])
  }

  @Test func rotationPeriodRotatesInMaintenance() throws {
    let fixture = KeyManagerFixture()
    let manager = try fixture.initialized()
    _ = try manager.createKeyring(name: "daily", rotationPeriodSeconds: 86_400)
    _ = try manager.createKeyring(name: "manual")
    fixture.now.advance(seconds: 86_399)
    #expect(try manager.runMaintenance() == [])
    fixture.now.advance(seconds: 1)
    #expect(try manager.runMaintenance() == [.rotated(.init(keyring: "daily", version: 2, reason: .period))])
    #expect(try manager.runMaintenance() == [])
    #expect(try manager.keyring("manual").latestVersion == 1)
  }

  @Test func dataKeysComeWithTheirCiphertext() throws {
    let manager = try KeyManagerFixture().initialized()
    _ = try manager.createKeyring(name: "envelope")
    let (plaintext, encrypted) = try manager.generateDataKey(keyring: "envelope", context: context)
    #expect(plaintext.count == 32)
    #expect(bytes(try manager.decrypt(keyring: "envelope", ciphertext: encrypted.ciphertext, context: context).plaintext) == bytes(plaintext))
  }
}
