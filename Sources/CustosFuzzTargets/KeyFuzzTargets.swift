import CustosCrypto
import CustosKeys

extension FuzzTargets {
  /// Ciphertexts handed to `Decrypt`: format, version and length checks, then AES-GCM opening under a
  /// fixed key with the keyring's associated data.
  static let ciphertext = FuzzTarget(name: "ciphertext", summary: "keyring ciphertext decoder and AES-GCM open", prepare: FuzzKeys.load) { bytes in
    guard let version = try? KeyringCiphertext.version(of: bytes) else { return }
    _ = try? KeyringCiphertext.open(
      bytes, key: FuzzKeys.dataKey, keyring: "fuzz", version: version,
      aadPrefix: KeyringCiphertext.associatedDataPrefix(keyring: "fuzz", version: version), context: .empty)
  }

  /// Unseal shares as operators type them.
  static let unsealShare = FuzzTarget(name: "unseal-share", summary: "unseal share parser") { bytes in
    _ = try? UnsealShare(parsing: String(fuzzInput: bytes))
  }

  /// The sealed root-key file as read at start (and from backups).
  static let sealedRootKey = FuzzTarget(name: "sealed-root-key", summary: "sealed root-key file decoder") { bytes in
    _ = try? SealedRootKey(decoding: bytes)
  }
}

extension FuzzKeys {
  static let dataKey = try! AESGCM.PreparedKey(SecretBytes(copying: [UInt8](repeating: 0x44, count: 32)))
}
