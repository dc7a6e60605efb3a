import CustosCrypto

/// One entry's canonical scan and leaf hash.
public struct ScannedEntry: Sendable {
  /// The entry's linked fields, when its bytes are a canonical entry.
  public var fields: CanonicalEntryScanner.Fields?
  /// Why the bytes are not a canonical entry (empty when `fields` is set).
  public var failure = ""
  public var leaf = SHA256Digest.zero

  /// Scans and hashes one entry's bytes.
  public init(scanning entry: UnsafeRawBufferPointer) {
    switch CanonicalEntryScanner.scan(entry) {
    case let .success(fields): self.fields = fields
    case let .failure(failure): self.failure = "not a canonical ledger entry: \(failure.reason) (byte \(failure.offset))"
    }
    leaf = MerkleHashing.leafHash(entry)
  }
}
