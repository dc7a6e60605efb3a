import CustosCrypto
import CustosJSON
import CustosLedger

/// An evidence bundle: the entries of a time range exactly as stored, a signed checkpoint after them,
/// the Merkle proofs tying them to it, the report built from them, and a signed manifest of it all.
/// Everything in it can be checked offline with the ledger's verifier key (`EvidenceVerifier`).
public enum EvidenceBundle {
  public static let entriesFile = "entries.jsonl"
  public static let checkpointFile = "checkpoint.txt"
  public static let proofsFile = "proofs.json"
  public static let summaryJSONFile = "summary.json"
  public static let summaryCSVFile = "summary.csv"
  public static let reportFile = "report.html"
  public static let manifestFile = "manifest.json"
  public static let signatureFile = "manifest.sig"
  /// The files the manifest lists, in the order they are written.
  public static let listedFiles = [entriesFile, checkpointFile, proofsFile, summaryJSONFile, summaryCSVFile, reportFile]
  /// Every file of a bundle: the listed ones, the manifest and its signature.
  public static let allFiles = Set(listedFiles + [manifestFile, signatureFile])
  /// Signed before the manifest bytes, so a manifest signature can never be mistaken for another one.
  public static let signatureContext = Array("custos-evidence-manifest/v1\n".utf8)
  public static let format = "custos-evidence/v1"
}

/// `manifest.json`: the range, the verifier key, who exported it and when, and the SHA-256 of every file.
public struct EvidenceManifest: Sendable, Equatable {
  public var origin: String
  public var verifierKey: String
  public var fromTime: Int64
  public var toTime: Int64
  public var firstIndex: UInt64
  public var lastIndex: UInt64
  public var treeSize: UInt64
  public var exportedAt: Int64
  public var exportedBy: String
  /// Filters applied to the report views (never to the entries).
  public var kinds: [String]
  public var actors: [String]
  /// File name → lowercase hex SHA-256.
  public var files: [String: String]

  public init(
    origin: String, verifierKey: String, fromTime: Int64, toTime: Int64, firstIndex: UInt64, lastIndex: UInt64, treeSize: UInt64,
    exportedAt: Int64, exportedBy: String, kinds: [String], actors: [String], files: [String: String]
  ) {
    self.origin = origin
    self.verifierKey = verifierKey
    self.fromTime = fromTime
    self.toTime = toTime
    self.firstIndex = firstIndex
    self.lastIndex = lastIndex
    self.treeSize = treeSize
    self.exportedAt = exportedAt
    self.exportedBy = exportedBy
    self.kinds = kinds
    self.actors = actors
    self.files = files
  }

  /// Canonical JSON (RFC 8785) and a newline.
  public func encoded() -> [UInt8] {
    CanonicalJSON.encode(.object([
      "format": .string(EvidenceBundle.format), "origin": .string(origin), "verifier_key": .string(verifierKey),
      "range": .object([
        "from_time": .integer(fromTime), "to_time": .integer(toTime), "first_index": .integer(Int64(firstIndex)),
        "last_index": .integer(Int64(lastIndex)),
      ]),
      "tree_size": .integer(Int64(treeSize)), "exported_at": .integer(exportedAt), "exported_by": .string(exportedBy),
      "filters": .object(["kinds": .array(kinds.map { .string($0) }), "actors": .array(actors.map { .string($0) })]),
      "files": .object(files.mapValues { .string($0) }),
    ])) + [0x0a]
  }

  public init(decoding bytes: [UInt8]) throws(EvidenceFailure) {
    func bad(_ why: String) -> EvidenceFailure { .init(file: EvidenceBundle.manifestFile, index: nil, reason: why) }
    guard let object = (try? JSONParser.parse(bytes))?.objectValue else { throw bad("not a JSON object") }
    guard object["format"]?.stringValue == EvidenceBundle.format else { throw bad("format is not \(EvidenceBundle.format)") }
    guard let range = object["range"]?.objectValue, let from = range["from_time"]?.integerValue, let to = range["to_time"]?.integerValue,
      let first = range["first_index"]?.integerValue, let last = range["last_index"]?.integerValue, first >= 0, last >= first,
      let size = object["tree_size"]?.integerValue, size > last,
      let origin = object["origin"]?.stringValue, let key = object["verifier_key"]?.stringValue,
      let at = object["exported_at"]?.integerValue, let by = object["exported_by"]?.stringValue,
      let files = object["files"]?.objectValue
    else { throw bad("a required field is missing or malformed") }
    let filters = object["filters"]?.objectValue ?? [:]
    func strings(_ value: JSONValue?) -> [String] {
      guard case let .array(items)? = value else { return [] }
      return items.compactMap(\.stringValue)
    }
    var hashes: [String: String] = [:]
    for (name, value) in files {
      guard let hex = value.stringValue else { throw bad("files.\(name) is not a string") }
      hashes[name] = hex
    }
    self.init(
      origin: origin, verifierKey: key, fromTime: from, toTime: to, firstIndex: UInt64(first), lastIndex: UInt64(last),
      treeSize: UInt64(size), exportedAt: at, exportedBy: by, kinds: strings(filters["kinds"]), actors: strings(filters["actors"]),
      files: hashes)
  }
}

/// `proofs.json`: inclusion of the first and last entry in the checkpoint's tree, and consistency from
/// the newest signed checkpoint at or before the start of the range to it.
public struct EvidenceProofs: Sendable, Equatable {
  public var treeSize: UInt64
  public var firstIndex: UInt64
  public var firstInclusion: [SHA256Digest]
  public var lastIndex: UInt64
  public var lastInclusion: [SHA256Digest]
  /// The signed note of the start checkpoint (nil when the range starts at index 0).
  public var startCheckpoint: String?
  public var consistency: [SHA256Digest]

  public init(
    treeSize: UInt64, firstIndex: UInt64, firstInclusion: [SHA256Digest], lastIndex: UInt64, lastInclusion: [SHA256Digest],
    startCheckpoint: String?, consistency: [SHA256Digest]
  ) {
    self.treeSize = treeSize
    self.firstIndex = firstIndex
    self.firstInclusion = firstInclusion
    self.lastIndex = lastIndex
    self.lastInclusion = lastInclusion
    self.startCheckpoint = startCheckpoint
    self.consistency = consistency
  }

  public func encoded() -> [UInt8] {
    func hashes(_ list: [SHA256Digest]) -> JSONValue { .array(list.map { .string($0.hex) }) }
    var object: [String: JSONValue] = [
      "tree_size": .integer(Int64(treeSize)),
      "inclusion_first": .object(["index": .integer(Int64(firstIndex)), "hashes": hashes(firstInclusion)]),
      "inclusion_last": .object(["index": .integer(Int64(lastIndex)), "hashes": hashes(lastInclusion)]),
      "consistency": .object(["hashes": hashes(consistency)]),
    ]
    object["start_checkpoint"] = startCheckpoint.map { .string($0) } ?? .null
    return CanonicalJSON.encode(.object(object)) + [0x0a]
  }

  public init(decoding bytes: [UInt8]) throws(EvidenceFailure) {
    func bad(_ why: String) -> EvidenceFailure { .init(file: EvidenceBundle.proofsFile, index: nil, reason: why) }
    guard let object = (try? JSONParser.parse(bytes))?.objectValue else { throw bad("not a JSON object") }
    func hashes(_ value: JSONValue?) throws(EvidenceFailure) -> [SHA256Digest] {
      guard case let .array(items)? = value else { throw bad("a hash list is missing") }
      var out: [SHA256Digest] = []
      for item in items {
        guard let text = item.stringValue, let digest = SHA256Digest(hex: text) else { throw bad("a hash is not 64 hex digits") }
        out.append(digest)
      }
      return out
    }
    guard let size = object["tree_size"]?.integerValue, let first = object["inclusion_first"]?.objectValue,
      let last = object["inclusion_last"]?.objectValue, let firstIndex = first["index"]?.integerValue,
      let lastIndex = last["index"]?.integerValue, let consistency = object["consistency"]?.objectValue
    else { throw bad("a required field is missing") }
    self.init(
      treeSize: UInt64(max(0, size)), firstIndex: UInt64(max(0, firstIndex)), firstInclusion: try hashes(first["hashes"]),
      lastIndex: UInt64(max(0, lastIndex)), lastInclusion: try hashes(last["hashes"]),
      startCheckpoint: object["start_checkpoint"]?.stringValue, consistency: try hashes(consistency["hashes"]))
  }
}

/// Where a bundle fails verification: the file, the ledger index when it is about one entry, and why.
public struct EvidenceFailure: Error, Equatable, Sendable, CustomStringConvertible {
  public let file: String
  public let index: UInt64?
  public let reason: String

  public init(file: String, index: UInt64?, reason: String) {
    self.file = file
    self.index = index
    self.reason = reason
  }

  public var description: String { "\(file)\(index.map { " index \($0)" } ?? ""): \(reason)" }
}
