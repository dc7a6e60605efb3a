import CustosJSON
import CustosLedger

/// The report's figures, computed from the bundle's entries with the report filters applied.
public struct EvidenceSummary: Sendable {
  public struct Row: Sendable, Equatable {
    public let time: Int64
    public let kind: String
    public let actor: String
    public let action: String
    public let resource: String
    public let outcome: String
    public let detail: String
  }

  public var entries = 0
  public var byKind: [String: Int] = [:]
  public var allows = 0
  public var denies = 0
  /// UTC day (YYYY-MM-DD) → (allow, deny).
  public var decisionsByDay: [String: (allow: Int, deny: Int)] = [:]
  public var deniedPrincipals: [String: Int] = [:]
  public var deniedActions: [String: Int] = [:]
  /// Policy activations, key operations that change keys, client and token changes, seal events.
  public var adminActions: [Row] = []
  /// `policy.activate` entries: when each policy-set hash came into force.
  public var policyVersions: [Row] = []
  public var failedAuthentications: [Row] = []
  public var keyEvents = 0
  /// Rows kept per table (counts go on): a year of activity must not grow the export's memory.
  public static let maximumRows = 10_000

  static let adminKinds: Set<String> = [
    "policy.activate", "key.create", "key.rotate", "key.trim", "key.min_decryption_version", "key.destroy_schedule", "key.destroy_cancel",
    "key.destroyed", "key.root_init", "key.root_rotate", "key.seal", "key.unseal", "client.create", "client.rotate_secret",
    "client.disable", "token.revoke", "token.signing_key_rotate", "report.export",
  ]

  public init() {}

  /// Adds one entry (its parsed JSON) if it passes the filters.
  public mutating func add(_ entry: [String: JSONValue], kinds: Set<String>, actors: Set<String>) {
    add(
      kind: entry["kind"]?.stringValue ?? "", actor: entry["actor"]?.stringValue ?? "", time: entry["time"]?.integerValue ?? 0,
      action: entry["action"]?.stringValue ?? "", resource: entry["resource"]?.stringValue ?? "",
      outcome: entry["outcome"]?.stringValue ?? "", details: { entry["details"]?.objectValue ?? [:] }, kinds: kinds, actors: actors)
  }

  /// Adds one entry given as its canonical bytes, reading its members in place: `details` is parsed
  /// only for the rows that show it (most entries are decisions, counted without it).
  public mutating func add(canonical bytes: [UInt8], kinds: Set<String>, actors: Set<String>) {
    bytes.withUnsafeBytes { buffer in
      guard case let .success(members) = CanonicalEntryScanner.members(buffer) else {
        if let object = (try? JSONParser.parse(bytes))?.objectValue { add(object, kinds: kinds, actors: actors) }
        return
      }
      func string(_ range: Range<Int>) -> String {
        let inner = buffer[(range.lowerBound + 1)..<(range.upperBound - 1)]
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        return (try? JSONParser.parse(Array(buffer[range])))?.stringValue ?? ""
      }
      let detailsRange = members.details
      add(
        kind: string(members.kind), actor: string(members.actor), time: members.fields.time, action: string(members.action),
        resource: string(members.resource), outcome: string(members.outcome),
        details: { (try? JSONParser.parse(Array(bytes[detailsRange])))?.objectValue ?? [:] }, kinds: kinds, actors: actors)
    }
  }

  private mutating func add(
    kind: String, actor: String, time: Int64, action: String, resource: String, outcome: String,
    details: () -> [String: JSONValue], kinds: Set<String>, actors: Set<String>
  ) {
    guard kinds.isEmpty || kinds.contains(kind), actors.isEmpty || actors.contains(actor) else { return }
    let isAdminAction = Self.adminKinds.contains(kind) && adminActions.count < Self.maximumRows
    let isPolicyVersion = kind == "policy.activate" && policyVersions.count < Self.maximumRows
    let isFailedAuthentication = kind == "token.issue" && outcome == "denied" && failedAuthentications.count < Self.maximumRows
    let shown = isAdminAction || isPolicyVersion || isFailedAuthentication ? details() : [:]
    let row = Row(
      time: time, kind: kind, actor: actor, action: action, resource: resource, outcome: outcome,
      detail: shown["policy_set_hash"]?.stringValue ?? shown["error"]?.stringValue ?? shown["reason"]?.stringValue ?? "")
    entries += 1
    byKind[kind, default: 0] += 1
    if kind.hasPrefix("key.") { keyEvents += 1 }
    if kind == "authz.decision" {
      let day = Self.day(time)
      var counts = decisionsByDay[day] ?? (0, 0)
      if row.outcome == "allow" {
        allows += 1
        counts.allow += 1
      } else {
        denies += 1
        counts.deny += 1
        deniedPrincipals[actor, default: 0] += 1
        deniedActions[row.action, default: 0] += 1
      }
      decisionsByDay[day] = counts
    }
    if isAdminAction { adminActions.append(row) }
    if isPolicyVersion { policyVersions.append(row) }
    if isFailedAuthentication { failedAuthentications.append(row) }
  }

  /// The `n` largest counts, ties by name.
  public static func top(_ counts: [String: Int], _ n: Int = 10) -> [(String, Int)] {
    Array(counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(n))
  }

  /// `summary.json`.
  public func json() -> [UInt8] {
    func rows(_ list: [Row]) -> JSONValue {
      .array(list.prefix(1000).map { row in
        .object([
          "time": .integer(row.time), "kind": .string(row.kind), "actor": .string(row.actor), "action": .string(row.action),
          "resource": .string(row.resource), "outcome": .string(row.outcome), "detail": .string(row.detail),
        ])
      })
    }
    func counts(_ list: [(String, Int)]) -> JSONValue { .array(list.map { .object(["name": .string($0.0), "count": .integer(Int64($0.1))]) }) }
    return CanonicalJSON.encode(.object([
      "entries": .integer(Int64(entries)), "by_kind": .object(byKind.mapValues { .integer(Int64($0)) }),
      "decisions": .object([
        "allow": .integer(Int64(allows)), "deny": .integer(Int64(denies)),
        "by_day": .object(decisionsByDay.mapValues { .object(["allow": .integer(Int64($0.allow)), "deny": .integer(Int64($0.deny))]) }),
      ]),
      "top_denied_principals": counts(Self.top(deniedPrincipals)), "top_denied_actions": counts(Self.top(deniedActions)),
      "admin_actions": rows(adminActions), "policy_versions": rows(policyVersions), "failed_authentications": rows(failedAuthentications),
    ])) + [0x0a]
  }

  /// `summary.csv`: one table, `section,name,value` for the figures, then the event rows.
  public func csv() -> [UInt8] {
    var lines = ["section,name,value", "total,entries,\(entries)", "decisions,allow,\(allows)", "decisions,deny,\(denies)"]
    for (kind, count) in byKind.sorted(by: { $0.key < $1.key }) { lines.append("by_kind,\(Self.csvField(kind)),\(count)") }
    for (day, counts) in decisionsByDay.sorted(by: { $0.key < $1.key }) {
      lines.append("allow_by_day,\(day),\(counts.allow)")
      lines.append("deny_by_day,\(day),\(counts.deny)")
    }
    for (name, count) in Self.top(deniedPrincipals) { lines.append("top_denied_principal,\(Self.csvField(name)),\(count)") }
    for (name, count) in Self.top(deniedActions) { lines.append("top_denied_action,\(Self.csvField(name)),\(count)") }
    lines.append("")
    lines.append("section,time,kind,actor,action,resource,outcome,detail")
    for (section, list) in [("admin_action", adminActions), ("policy_version", policyVersions), ("failed_authentication", failedAuthentications)] {
      for row in list {
        lines.append([section, "\(row.time)", row.kind, row.actor, row.action, row.resource, row.outcome, row.detail].map(Self.csvField).joined(separator: ","))
      }
    }
    return Array((lines.joined(separator: "\n") + "\n").utf8)
  }

  /// RFC 4180 quoting; a leading =, +, - or @ is prefixed with ' so spreadsheets do not run it.
  static func csvField(_ text: String) -> String {
    var value = text
    if let first = value.first, "=+-@".contains(first) { value = "'" + value }
    guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
    return "\"" + value.replacingAll("\"", with: "\"\"") + "\""
  }

  /// `YYYY-MM-DD` (UTC) of a nanosecond timestamp, by the civil-from-days algorithm (no Foundation).
  static func day(_ nanoseconds: Int64) -> String {
    let days = Int(nanoseconds / 86_400_000_000_000)
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(y)-\(two(m))-\(two(d))"
  }

  /// `YYYY-MM-DD HH:MM:SS` UTC.
  static func timestamp(_ nanoseconds: Int64) -> String {
    let seconds = Int(nanoseconds / 1_000_000_000) % 86_400
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(day(nanoseconds)) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
  }
}

extension String {
  func replacingAll(_ target: Character, with replacement: String) -> String {
    var out = ""
    for c in self { if c == target { out += replacement } else { out.append(c) } }
    return out
  }
}
