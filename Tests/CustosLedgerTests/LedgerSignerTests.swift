import CustosCrypto
import CustosLedgerTestSupport
import Testing

@testable import CustosLedger

/// A ledger whose signing key is sealed serves reads and refuses appends; it takes only its own key.
extension LedgerAppenderTests {
  @Test func withoutASignerAppendsAreRefusedAndReadsServed() async throws {
    let storage = InMemoryLedgerStorage()
    _ = try await Ledger(storage: storage, signer: signer).append([event(0), event(1)])
    let sealed = try Ledger(storage: storage, verifier: signer.verifier, signer: nil)
    let size = await sealed.size, canSign = await sealed.canSign
    #expect(size == 2 && !canSign)
    await #expect(throws: LedgerError.unavailable("the ledger cannot sign checkpoints while its key is sealed: unseal the root key (custos operator unseal)")) {
      _ = try await sealed.append(event(2))
    }
    var read = 0
    try sealed.entries(from: 0, to: nil, size: 2) { _ in read += 1; return true }
    #expect(read == 2)
    try await sealed.install(signer)
    #expect(try await sealed.append(event(2)).index == 2)
    await sealed.removeSigner()
    await #expect(throws: LedgerError.self) { _ = try await sealed.append(event(3)) }
    #expect(try LedgerVerifier(storage: storage, verifier: signer.verifier).verify().ok)
  }

  @Test func anotherKeyIsRefused() async throws {
    let storage = InMemoryLedgerStorage()
    _ = try await Ledger(storage: storage, signer: signer).append(event(0))
    let other = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())
    let sealed = try Ledger(storage: storage, verifier: signer.verifier, signer: nil)
    await #expect(throws: LedgerError.self) { try await sealed.install(other) }
    #expect(throws: LedgerError.self) { _ = try Ledger(storage: storage, verifier: signer.verifier, signer: other) }
    #expect(throws: LedgerError.self) { _ = try Ledger(storage: storage, verifier: nil, signer: nil) }
  }

  @Test func aNewLedgerWithoutAKeyTakesTheFirstOneAndWhatWasWrittenMeanwhile() async throws {
    let storage = InMemoryLedgerStorage()
    let waiting = try Ledger(storage: storage, verifier: nil, signer: nil)
    #expect(waiting.verifier == nil)
    // Another node sharing the store got the key first and wrote.
    _ = try await Ledger(storage: storage, signer: signer).append([event(0), event(1)])
    try await waiting.install(signer)
    #expect(waiting.verifier == signer.verifier)
    #expect(try await waiting.append(event(2)).index == 2)
  }
}
