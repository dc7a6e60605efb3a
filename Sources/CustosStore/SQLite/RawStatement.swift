import CustosCrypto
import GRDB
import GRDBSQLite

/// Binds and steps a prepared GRDB statement through the SQLite C API, for the append loop: it skips
/// building an argument array of existentials and a `Data` copy per value.
struct RawStatement {
  private let statement: Statement
  private var handle: OpaquePointer { statement.sqliteStatement }

  /// SQLite copies the bound bytes before the call returns (SQLITE_TRANSIENT), so Swift buffers need
  /// only live for the call.
  private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  init(_ statement: Statement) { self.statement = statement }

  func reset() {
    sqlite3_reset(handle)
    sqlite3_clear_bindings(handle)
  }

  func bind(_ index: Int32, _ value: Int64) throws {
    try check(sqlite3_bind_int64(handle, index, value))
  }

  func bind(_ index: Int32, _ value: String) throws {
    // withCString never yields a null pointer, so an empty string binds as '' rather than NULL.
    try check(value.withCString { sqlite3_bind_text(handle, index, $0, Int32(value.utf8.count), Self.transient) })
  }

  func bind(_ index: Int32, _ bytes: some RawBytes) throws {
    try check(bytes.withUnsafeBytes { buffer in
      buffer.count == 0
        ? sqlite3_bind_zeroblob(handle, index, 0)
        : sqlite3_bind_blob(handle, index, buffer.baseAddress, Int32(buffer.count), Self.transient)
    })
  }

  /// A value SQLite could not take (too big, out of memory) fails the write instead of binding NULL.
  private func check(_ code: Int32) throws {
    guard code == SQLITE_OK else {
      throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errstr(code)))
    }
  }

  /// Steps to the next row: true while there is one.
  func nextRow(_ db: Database) throws -> Bool {
    let code = sqlite3_step(handle)
    if code == SQLITE_ROW { return true }
    guard code == SQLITE_DONE else {
      throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
    return false
  }

  func int64(at column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

  /// Lends the current row's blob at `column`; valid only inside `body`.
  func withBlob<R>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let pointer = sqlite3_column_blob(handle, column)
    let count = Int(sqlite3_column_bytes(handle, column))
    return try body(UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : count))
  }

  /// Runs the statement; throws GRDB's error (with SQLite's message) on failure.
  func step(_ db: Database) throws {
    let code = sqlite3_step(handle)
    guard code == SQLITE_DONE else {
      throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
  }
}
