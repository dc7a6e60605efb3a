import CustosCrypto
import Testing

@testable import CustosLedger

@Suite struct SignedNoteTests {
  @Test func checkpointsSignVerifyAndRejectTampering() throws {
    let signer = NoteSigner(name: "custos.local/ledger", privateKey: Ed25519.PrivateKey())
    let checkpoint = Checkpoint(origin: "custos.local/ledger", size: 42, rootHash: SHA256.hash([9]))
    let note = signer.sign(checkpoint.body)
    #expect(note.hasPrefix("custos.local/ledger\n42\n"))
    #expect(note.contains("\n\n\u{2014} custos.local/ledger "))
    let parsed = try SignedCheckpoint(note: note, verifier: signer.verifier)
    #expect(parsed.checkpoint == checkpoint)
    let tampered = note.replacingOccurrences(of: "\n42\n", with: "\n43\n")
    #expect(throws: LedgerError.self) { try SignedCheckpoint(note: tampered, verifier: signer.verifier) }
    let other = NoteSigner(name: "custos.local/ledger", privateKey: Ed25519.PrivateKey())
    #expect(throws: LedgerError.self) { try SignedCheckpoint(note: note, verifier: other.verifier) }
  }

  @Test func verifierKeysRoundTripAndCheckTheirHash() throws {
    let signer = NoteSigner(name: "example.com/log", privateKey: Ed25519.PrivateKey())
    let text = signer.verifier.verifierKey
    #expect(text.hasPrefix("example.com/log+"))
    #expect(try NoteVerifier(verifierKey: text) == signer.verifier)
    let wrongHash = text.replacingOccurrences(of: "example.com/log+", with: "example.com/log+0") .dropLast(0)
    #expect(throws: LedgerError.self) { try NoteVerifier(verifierKey: String(wrongHash)) }
  }

  @Test func base64MatchesFoundation() {
    for n in 0..<40 {
      let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
      let ours = Base64.encode(bytes)
      #expect(ours == Data(bytes).base64EncodedString())
      #expect(Base64.decode(ours) == bytes)
    }
    #expect(Base64.decode("abc") == nil)
    #expect(Base64.decode("ab=c") == nil)
  }
}

import Foundation
