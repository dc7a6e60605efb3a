import CustosCrypto

/// The `custos-backup/v1` file: a magic line, then records `[kind: u8][length: u32 BE][payload]`.
///
/// A part starts with a `part` record naming it and holds `row` records. The `ledger` part holds the
/// log in order: each entry's canonical bytes, each Merkle node the entry closed right after it, and each
/// signed checkpoint right after the entry that completed its size — so a reader checks every entry,
/// link, node and checkpoint in one pass with a compact range. The other parts hold the deployment's
/// state as JSON rows (keyrings wrapped, token keys and the ledger key sealed; never an unsealed key).
/// The file ends with the manifest (JSON) and its Ed25519 signature by the ledger key over
/// `custos-backup-manifest/v1\n` followed by the manifest bytes.
public enum BackupFormat {
  public static let magic = Array("custos-backup/v1\n".utf8)
  public static let signatureContext = Array("custos-backup-manifest/v1\n".utf8)
  /// Largest record payload accepted when reading (an entry is at most 4 MiB).
  public static let maximumRecordBytes = 8 << 20

  public enum RecordKind: UInt8, Sendable {
    case part = 1
    case row = 2
    case manifest = 3
    case signature = 4
    /// First: the origin and verifier key of the ledger whose key signed the backup.
    case header = 5
  }

  static func recordHeader(_ kind: RecordKind, length: Int) -> [UInt8] {
    var header: [UInt8] = [kind.rawValue]
    withUnsafeBytes(of: UInt32(length).bigEndian) { header += $0 }
    return header
  }

  /// Row tags inside the `ledger` part (the first byte of each row).
  public enum LedgerRow: UInt8, Sendable {
    case entry = 0x45  // "E": the stored leaf hash (32), then the canonical entry bytes
    case node = 0x4e  // "N": level (u8), index (u64 BE), hash (32)
    case checkpoint = 0x43  // "C": the signed note's text follows
  }

  /// The parts, in the order they are written.
  public enum Part: String, CaseIterable, Sendable {
    case ledger
    case keyrings
    case rootKeyID = "root_key_id"
    case sealedRootKey = "sealed_root_key"
    case ledgerSigningKey = "ledger_signing_key"
    case clients
    case tokenSigningKeys = "token_signing_keys"
    case revocations
    case policySet = "policy_set"
  }
}

/// The first record: whose log this is.
public struct BackupHeader: Codable, Sendable, Equatable {
  public var origin: String
  public var verifierKey: String
}

/// What a backup says of itself, signed by the ledger key.
public struct BackupManifest: Codable, Sendable, Equatable {
  public struct PartDigest: Codable, Sendable, Equatable {
    public var rows: UInt64
    /// SHA-256 (hex) over the part's row records as written (kind, length, payload).
    public var sha256: String
  }

  public var format = "custos-backup/v1"
  public var origin: String
  public var verifierKey: String
  /// The log's size and root at the backup's checkpoint, and that checkpoint's signed note.
  public var treeSize: UInt64
  public var rootHash: String
  public var checkpoint: String
  public var createdAt: Int64
  public var parts: [String: PartDigest]
  /// Witness cosignature lines (C2SP tlog-cosignature) over `checkpoint`, when witnesses cosigned it.
  public var cosignatures: [String] = []
}

/// A backup that does not verify, naming the part and (for the ledger) the index.
public struct BackupError: Error, Sendable, CustomStringConvertible, Equatable {
  public let part: String
  public let index: UInt64?
  public let reason: String

  public init(part: String, index: UInt64? = nil, _ reason: String) {
    self.part = part
    self.index = index
    self.reason = reason
  }

  public var description: String {
    "backup part \(part)" + (index.map { " at index \($0)" } ?? "") + ": \(reason)"
  }
}
