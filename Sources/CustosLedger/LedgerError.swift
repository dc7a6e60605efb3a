/// Errors from the ledger. Each case says what a caller can do about it.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The event or request is malformed; nothing was written. The message says which field and why.
  case invalidArgument(String)
  /// An index or size lies outside the log.
  case outOfRange(String)
  /// The storage could not make the write durable; nothing was acknowledged.
  case unavailable(String)
  /// Stored data does not match what was written: tampering or corruption at `index`.
  case corrupted(index: UInt64, reason: String)

  public var description: String {
    switch self {
    case let .invalidArgument(why): return why
    case let .outOfRange(why): return why
    case let .unavailable(why): return why
    case let .corrupted(index, reason): return "ledger entry \(index): \(reason)"
    }
  }
}
