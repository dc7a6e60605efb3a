import PostgresNIO

/// What went wrong with a database call, in words an operator can act on. Built from the server's
/// SQLSTATE and message or the connection error — never from the query's bound values.
enum PostgresFailure {
  static func describe(_ error: any Error) -> String {
    guard let error = error as? PSQLError else { return "\(error)" }
    if let server = error.serverInfo {
      let state = server[.sqlState] ?? "?"
      let message = server[.message] ?? "no message"
      return "the database answered \(state): \(message)"
    }
    if let underlying = error.underlying { return "\(error.code): \(underlying)" }
    return "\(error.code)"
  }

  /// The SQLSTATE of a server error, if it is one.
  static func sqlState(_ error: any Error) -> String? { (error as? PSQLError)?.serverInfo?[.sqlState] }
}
