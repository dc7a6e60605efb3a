import CustosCrypto
import CustosJSON

/// One ledger entry: an event with its position, time and link to the previous entry.
public struct LedgerEntry: Sendable, Equatable {
  public var index: UInt64
  /// Nanoseconds since the Unix epoch, UTC.
  public var time: Int64
  public var event: LedgerEvent
  /// Leaf hash of the previous entry; all zeros for index 0.
  public var prev: SHA256Digest

  public init(index: UInt64, time: Int64, event: LedgerEvent, prev: SHA256Digest) {
    self.index = index
    self.time = time
    self.event = event
    self.prev = prev
  }

  /// The RFC 8785 canonical bytes: the entry as stored, hashed and exported.
  public var canonicalBytes: [UInt8] {
    CanonicalJSON.encode(.object([
      "index": .integer(Int64(index)),
      "time": .integer(time),
      "kind": .string(event.kind),
      "actor": .string(event.actor),
      "action": .string(event.action),
      "resource": .string(event.resource),
      "outcome": .string(event.outcome),
      "details": .object(event.details),
      "prev": .string(prev.hex),
    ]))
  }

  /// Parses stored canonical bytes back into an entry, checking they are exactly canonical and complete.
  public init(canonicalBytes bytes: [UInt8]) throws(LedgerError) {
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch { throw .corrupted(index: 0, reason: "entry is not valid JSON: \(error)") }
    guard let object = value.objectValue else { throw .corrupted(index: 0, reason: "entry is not a JSON object") }
    let expectedKeys: Set<String> = ["index", "time", "kind", "actor", "action", "resource", "outcome", "details", "prev"]
    guard Set(object.keys) == expectedKeys else {
      throw .corrupted(index: 0, reason: "entry fields are \(CanonicalJSON.sortedKeys(object.keys)), expected \(CanonicalJSON.sortedKeys(expectedKeys))")
    }
    func string(_ key: String) throws(LedgerError) -> String {
      guard let s = object[key]?.stringValue else { throw .corrupted(index: 0, reason: "\(key) is not a string") }
      return s
    }
    guard let index = object["index"]?.integerValue, index >= 0 else { throw .corrupted(index: 0, reason: "index is not a non-negative integer") }
    guard let time = object["time"]?.integerValue else { throw .corrupted(index: UInt64(index), reason: "time is not an integer") }
    guard let details = object["details"]?.objectValue else { throw .corrupted(index: UInt64(index), reason: "details is not an object") }
    let prevHex = try string("prev")
    guard prevHex.utf8.count == 64, prevHex == prevHex.lowercased(), let prev = SHA256Digest(hex: prevHex) else {
      throw .corrupted(index: UInt64(index), reason: "prev is not 64 lowercase hex digits")
    }
    self.init(
      index: UInt64(index), time: time,
      event: LedgerEvent(
        kind: try string("kind"), actor: try string("actor"), action: try string("action"),
        resource: try string("resource"), outcome: try string("outcome"), details: details),
      prev: prev)
    guard canonicalBytes == bytes else { throw .corrupted(index: UInt64(index), reason: "entry bytes are not in canonical form") }
  }
}

/// An entry as the store holds it: the canonical bytes are the truth, the rest is derived.
public struct StoredEntry: Sendable, Equatable {
  public var index: UInt64
  public var canonical: [UInt8]
  public var leafHash: SHA256Digest
  public var time: Int64
  public var kind: String
  public var actor: String
  public var action: String
  public var resource: String
  public var outcome: String

  public init(
    index: UInt64, canonical: [UInt8], leafHash: SHA256Digest, time: Int64, kind: String, actor: String,
    action: String, resource: String, outcome: String
  ) {
    self.index = index
    self.canonical = canonical
    self.leafHash = leafHash
    self.time = time
    self.kind = kind
    self.actor = actor
    self.action = action
    self.resource = resource
    self.outcome = outcome
  }
}
