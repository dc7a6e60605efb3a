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

  /// `error` as the store reports it: a refusal (a server error: constraint, lock timeout) or the
  /// database being unavailable (connection, timeout); errors that are not the database's pass through.
  static func storeError(_ error: any Error, database: String) -> any Error {
    var error = error
    // A transaction's error wraps the one that ended it.
    if let transaction = error as? PostgresTransactionError {
      guard let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError else {
        return StoreError.unavailable(database: database, reason: "the transaction failed")
      }
      error = inner
    }
    guard let psql = error as? PSQLError else { return error }
    if psql.serverInfo != nil { return StoreError.refused(database: database, reason: describe(psql)) }
    return StoreError.unavailable(database: database, reason: describe(psql))
  }
}
