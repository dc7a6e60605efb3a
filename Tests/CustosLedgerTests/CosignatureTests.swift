import CustosCrypto
import Testing

@testable import CustosLedger

/// Witness cosignature lines (C2SP tlog-cosignature) as a verifier reads them from a note.
@Suite struct CosignatureTests {
  let witnessKey = Ed25519.PrivateKey()
  let body = Checkpoint(origin: "custos.test/ledger", size: 7, rootHash: SHA256.hash([7])).body
  var cosigner: CosignerKey { CosignerKey(name: "witness.test/w1", publicKey: witnessKey.publicKey) }

  func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

  @Test func aValidLineGivesItsTimestampAndOtherKeysLinesAreIgnored() {
    let other = Cosignature.line(body: body, timestamp: 1, name: "witness.test/w1", key: Ed25519.PrivateKey())
    let valid = Cosignature.line(body: body, timestamp: 1_700_000_000, name: "witness.test/w1", key: witnessKey)
    #expect(Cosignature.verified(lines: lines(other + valid), body: body, cosigner: cosigner) == 1_700_000_000)
    #expect(Cosignature.verified(lines: lines(other), body: body, cosigner: cosigner) == nil)
    #expect(Cosignature.verified(lines: lines(valid), body: body + "extra\n", cosigner: cosigner) == nil)
  }

  /// A line with the witness's name and key ID whose signature fails rejects the cosignature, even with
  /// a valid line after it: so a note padded with thousands of such lines costs one verification.
  @Test func theFirstLineWithTheWitnessKeyDecidesAndAFailedOneIsNotSkipped() {
    let valid = Cosignature.line(body: body, timestamp: 1_700_000_000, name: "witness.test/w1", key: witnessKey)
    let forged = Cosignature.line(body: body + "forged\n", timestamp: 1_700_000_000, name: "witness.test/w1", key: witnessKey)
    #expect(Cosignature.verified(lines: lines(String(repeating: forged, count: 1000) + valid), body: body, cosigner: cosigner) == nil)
    #expect(Cosignature.verified(lines: lines(valid + forged), body: body, cosigner: cosigner) == 1_700_000_000)
  }
}
