import CustosKeys
import NIOCore
import PostgresNIO

/// The sealed root key in the shared database (`root_key_sealed`: a current row and, during a root
/// rotation, a staged one), so every node unseals the same root key. Only sealed bytes are stored.
public struct PostgresSealedRootKeyStore: SealedRootKeyStore {
  let store: PostgresStore

  public func read() throws -> (current: [UInt8]?, next: [UInt8]?) {
    var found: [String: [UInt8]] = [:]
    for row in try store.rows("SELECT slot, sealed FROM root_key_sealed") {
      let (slot, sealed) = try row.decode((String, ByteBuffer).self)
      found[slot] = Array(buffer: sealed)
    }
    return (found["current"], found["next"])
  }

  public func create(_ sealed: [UInt8]) throws {
    try store.execute("INSERT INTO root_key_sealed (slot, sealed) VALUES ('current', \(ByteBuffer(bytes: sealed)))")
  }

  public func stage(_ sealed: [UInt8]) throws {
    try store.execute("""
      INSERT INTO root_key_sealed (slot, sealed) VALUES ('next', \(ByteBuffer(bytes: sealed)))
      ON CONFLICT (slot) DO UPDATE SET sealed = excluded.sealed
      """)
  }

  public func promoteStaged() throws {
    let logger = store.logger
    try store.transaction { connection in
      let staged = try await connection.rows("DELETE FROM root_key_sealed WHERE slot = 'next' RETURNING sealed", logger)
      guard let row = staged.first else { throw KeyError.storage("no staged root key to promote") }
      let sealed = try row.decode(ByteBuffer.self)
      _ = try await connection.rows("""
        INSERT INTO root_key_sealed (slot, sealed) VALUES ('current', \(sealed))
        ON CONFLICT (slot) DO UPDATE SET sealed = excluded.sealed
        """, logger)
    }
  }

  public func discardStaged() throws {
    try store.execute("DELETE FROM root_key_sealed WHERE slot = 'next'")
  }
}
