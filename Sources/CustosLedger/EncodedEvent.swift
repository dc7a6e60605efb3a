import CustosCrypto
import CustosJSON

/// An event encoded once into the canonical entry template, so the appender only fills in `index`,
/// `prev` and `time` — the members a ledger assigns — without re-sorting or re-escaping anything.
///
/// The members of an entry in canonical order are action, actor, details, index, kind, outcome, prev,
/// resource, time; the assigned ones split the template into three fixed pieces.
public struct EncodedEvent: Sendable {
  public let event: LedgerEvent
  private let head: [UInt8]  // {"action":…,"actor":…,"details":…,"index":
  private let middle: [UInt8]  // ,"kind":…,"outcome":…,"prev":"
  private let tail: [UInt8]  // ","resource":…,"time":

  public init(_ event: LedgerEvent) {
    self.event = event
    var head = Array(#"{"action":"#.utf8)
    CanonicalJSON.writeString(event.action, into: &head)
    head += #","actor":"#.utf8
    CanonicalJSON.writeString(event.actor, into: &head)
    head += #","details":"#.utf8
    CanonicalJSON.write(.object(event.details), into: &head)
    head += #","index":"#.utf8
    var middle = Array(#","kind":"#.utf8)
    CanonicalJSON.writeString(event.kind, into: &middle)
    middle += #","outcome":"#.utf8
    CanonicalJSON.writeString(event.outcome, into: &middle)
    middle += #","prev":""#.utf8
    var tail = Array(#"","resource":"#.utf8)
    CanonicalJSON.writeString(event.resource, into: &tail)
    tail += #","time":"#.utf8
    self.head = head
    self.middle = middle
    self.tail = tail
  }

  /// The longest the entry can be, with the widest index and time.
  public var maximumEntryBytes: Int { head.count + 19 + middle.count + 64 + tail.count + 20 + 1 }

  /// The canonical bytes of this event as entry `index` after `prev`, at `time`.
  public func entryBytes(index: UInt64, prev: SHA256Digest, time: Int64) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(maximumEntryBytes)
    out += head
    CanonicalJSON.writeInteger(Int64(index), into: &out)
    out += middle
    prev.withUnsafeBytes { bytes in
      for byte in bytes {
        out.append(Self.hexDigits[Int(byte >> 4)])
        out.append(Self.hexDigits[Int(byte & 0x0F)])
      }
    }
    out += tail
    CanonicalJSON.writeInteger(time, into: &out)
    out.append(UInt8(ascii: "}"))
    return out
  }

  private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
