import CustosJSON
/// What a caller asks the ledger to record. The ledger adds index, time and `prev`.
public struct LedgerEvent: Sendable, Equatable {
  public var kind: String
  public var actor: String
  public var action: String
  public var resource: String
  public var outcome: String
  /// Always a JSON object.
  public var details: [String: JSONValue]

  public init(kind: String, actor: String, action: String, resource: String, outcome: String, details: [String: JSONValue] = [:]) {
    self.kind = kind
    self.actor = actor
    self.action = action
    self.resource = resource
    self.outcome = outcome
    self.details = details
  }

  /// Limits on event fields, enforced before anything is written.
  public struct Limits: Sendable {
    /// Largest canonical entry, in bytes.
    public var maximumEntryBytes: Int
    /// Longest `actor`, `action`, `resource` or `outcome`, in bytes.
    public var maximumFieldBytes: Int

    public init(maximumEntryBytes: Int = 64 * 1024, maximumFieldBytes: Int = 1024) {
      self.maximumEntryBytes = maximumEntryBytes
      self.maximumFieldBytes = maximumFieldBytes
    }
  }

  /// Parses caller-supplied `details` bytes: empty means `{}`; otherwise UTF-8 JSON text of an object,
  /// integers only.
  public static func parseDetails(_ bytes: [UInt8]) throws(LedgerError) -> [String: JSONValue] {
    if bytes.isEmpty { return [:] }
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch { throw .invalidArgument("details: \(error)") }
    guard let object = value.objectValue else { throw .invalidArgument("details: must be a JSON object") }
    return object
  }

  /// Throws `invalidArgument` naming the first field that breaks the rules.
  public func validate(limits: Limits) throws(LedgerError) {
    guard (1...64).contains(kind.utf8.count),
      kind.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d })
    else { throw .invalidArgument("kind: must be 1-64 characters of [a-z0-9._-], got \"\(kind.prefix(80))\"") }
    for (name, value) in [("actor", actor), ("action", action), ("resource", resource), ("outcome", outcome)] {
      guard !value.isEmpty else { throw .invalidArgument("\(name): required") }
      guard value.utf8.count <= limits.maximumFieldBytes else {
        throw .invalidArgument("\(name): \(value.utf8.count) bytes exceeds the limit of \(limits.maximumFieldBytes)")
      }
    }
  }
}
