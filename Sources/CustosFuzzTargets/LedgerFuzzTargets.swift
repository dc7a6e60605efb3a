import CustosCrypto
import CustosLedger

extension FuzzTargets {
  /// The canonical entry scanner on the read path, checked against the full parser: whatever the
  /// scanner accepts, the parser accepts with the same index, time and prev.
  static let canonicalEntry = FuzzTarget(name: "canonical-entry", summary: "canonical ledger entry scanner against the full entry parser") { bytes in
    guard case let .success(fields) = CanonicalEntryScanner.scan(bytes) else { return }
    _ = bytes.withUnsafeBytes { CanonicalEntryScanner.members($0) }
    guard let entry = try? LedgerEntry(canonicalBytes: bytes) else { fatalError("the scanner accepted an entry the parser refuses") }
    guard entry.index == fields.index, entry.time == fields.time, entry.prev == fields.prev else {
      fatalError("the scanner and the parser disagree on an entry's fields")
    }
  }

  /// An event's `details` as a caller sends them.
  static let ledgerDetails = FuzzTarget(name: "ledger-details", summary: "event details (a JSON object) as Append accepts them") { bytes in
    _ = try? LedgerEvent.parseDetails(bytes)
  }

  /// A signed note from outside (a checkpoint someone hands a verifier), opened with a fixed key.
  static let signedNote = FuzzTarget(name: "signed-note", summary: "signed-note signature block parser and verification", prepare: FuzzKeys.load) { bytes in
    let note = String(fuzzInput: bytes)
    _ = try? FuzzKeys.noteSigner.verifier.open(note)
    _ = try? SignedCheckpoint(note: note, verifier: FuzzKeys.noteSigner.verifier)
  }

  /// A checkpoint body, signed here so the parser behind the signature is reached; cosignature lines
  /// after it are checked against a fixed witness key. Inputs up to 4 KiB: a checkpoint cosigned by a
  /// dozen witnesses is under 2 KiB.
  static let checkpoint = FuzzTarget(
    name: "checkpoint", summary: "checkpoint body parser behind a valid signature, cosignature lines", maximumInputBytes: 4 * 1024,
    prepare: FuzzKeys.load
  ) { bytes in
    let text = String(fuzzInput: bytes)
    let head = text.split(separator: "\n\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    let body = String(noteText: head)
    _ = try? Checkpoint(body: body)
    _ = try? SignedCheckpoint(note: FuzzKeys.noteSigner.sign(body), verifier: FuzzKeys.noteSigner.verifier)
    _ = Cosignature.verified(lines: text.split(separator: "\n"), body: body, cosigner: FuzzKeys.cosigner)
  }

  /// Verifier keys and witness vkeys as operators paste them.
  static let verifierKeys = FuzzTarget(name: "verifier-keys", summary: "note verifier key and witness vkey parsers") { bytes in
    let text = String(fuzzInput: bytes)
    _ = try? NoteVerifier(verifierKey: text)
    _ = try? CosignerKey(vkey: text)
  }
}

/// Fixed keys the harnesses sign with, so fuzzed inputs get past signatures to the parsers behind them.
enum FuzzKeys {
  static let noteSigner = NoteSigner(name: "fuzz.custos/ledger", privateKey: key(0x11))
  static let cosigner = CosignerKey(name: "fuzz.custos/witness", publicKey: key(0x22).publicKey)

  static let tokenKey = key(0x33)

  @Sendable static func load() {
    _ = (noteSigner, cosigner, tokenKey, dataKey)
  }

  static func key(_ fill: UInt8) -> Ed25519.PrivateKey {
    try! Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: [UInt8](repeating: fill, count: 32)))
  }
}
