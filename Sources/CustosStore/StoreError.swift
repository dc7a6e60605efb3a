/// Errors raised by the stores, naming the database and the setting at fault but never row contents
/// or a password.
public enum StoreError: Error, CustomStringConvertible, Sendable {
  case cannotOpen(path: String, reason: String)
  /// A setting that cannot work (`name` is the setting's name).
  case badSetting(name: String, reason: String)
  /// The database cannot be reached or did not answer in time.
  case unavailable(database: String, reason: String)
  /// The database refused a statement (a constraint, a lock timeout, ...).
  case refused(database: String, reason: String)
  /// The database was migrated by a newer Custos: this binary must not write to it.
  case schemaNewer(database: String, unknown: [String])

  public var description: String {
    switch self {
    case let .cannotOpen(path, reason): return "cannot open the database at \(path): \(reason)"
    case let .badSetting(name, reason): return "\(name): \(reason)"
    case let .unavailable(database, reason): return "the database \(database) is unavailable: \(reason)"
    case let .refused(database, reason): return "the database \(database) refused the change: \(reason)"
    case let .schemaNewer(database, unknown):
      return "the database \(database) has schema migrations this custosd does not know (\(unknown.joined(separator: ", "))): it was upgraded by a newer version; run that version"
    }
  }
}
