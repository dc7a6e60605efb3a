import CustosCrypto
import CustosLedger
import CustosStore
import Foundation
import GRDB

/// Ledger databases for the benchmarks. Large ones are built once and kept in Benchmarks/.data.
final class Fixture: @unchecked Sendable {
  // @unchecked Sendable: every property is a `let` set in init; the types they hold are Sendable or
  // only read after init.
  let path: String
  let store: SQLiteStore
  let storage: SQLiteLedgerStorage
  let signer: NoteSigner
  let key: Ed25519.PrivateKey

  private static let lock = NSLock()
  nonisolated(unsafe) private static var cache: [Int: Fixture] = [:]
  nonisolated(unsafe) private static var ledgers: [ObjectIdentifier: Ledger] = [:]

  static var dataDirectory: URL {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent(".data")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  static func event(_ i: Int) -> LedgerEvent {
    LedgerEvent(
      kind: "audit.event", actor: "Service::\"billing-worker\"", action: "charge", resource: "Invoice::\"\(i)\"",
      outcome: "success", details: ["amount_cents": .integer(Int64(i % 100_000)), "currency": .string("EUR")])
  }

  static func rawConfiguration() -> Configuration {
    var configuration = Configuration()
    configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    return configuration
  }

  private init(path: String, key: Ed25519.PrivateKey) throws {
    self.path = path
    store = try SQLiteStore(path: path)
    storage = store.ledgerStorage
    signer = NoteSigner(name: "custos.bench/ledger", privateKey: key)
    self.key = key
  }

  func ledger() throws -> Ledger { try Ledger(storage: storage, signer: signer) }

  /// A new empty ledger in a temporary file.
  static func fresh() throws -> Fixture {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("custos-bench-\(UUID().uuidString).sqlite").path
    return try Fixture(path: path, key: Ed25519.PrivateKey())
  }

  /// A ledger of `entries` entries, built on first use and kept on disk with its signing key.
  static func shared(entries: Int) throws -> Fixture {
    if let fixture = lock.withLock({ cache[entries] }) { return fixture }
    let path = dataDirectory.appendingPathComponent("ledger-\(entries).sqlite").path
    let keyPath = path + ".key"
    let complete = path + ".complete"
    if !FileManager.default.fileExists(atPath: complete) {
      for suffix in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: path + suffix) }
      let key = Ed25519.PrivateKey()
      try Data(key.rawRepresentation.withUnsafeBytes { Array($0) }).write(to: URL(fileURLWithPath: keyPath))
      let fixture = try Fixture(path: path, key: key)
      let ledger = try fixture.ledger()
      try runBlocking {
        var next = 0
        while next < entries {
          let count = min(8192, entries - next)
          _ = try await ledger.append((next..<next + count).map(event))
          next += count
        }
      }
      FileManager.default.createFile(atPath: complete, contents: Data())
    }
    let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: keyPath)))
    let fixture = try Fixture(path: path, key: try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: seed)))
    lock.withLock { cache[entries] = fixture }
    return fixture
  }

  /// One opened ledger per fixture for proof benchmarks (opening verifies the head once).
  static func proofLedger(_ fixture: Fixture) throws -> Ledger {
    if let ledger = lock.withLock({ ledgers[ObjectIdentifier(fixture)] }) { return ledger }
    let ledger = try fixture.ledger()
    lock.withLock { ledgers[ObjectIdentifier(fixture)] = ledger }
    return ledger
  }
}

/// Runs async work from a synchronous benchmark (which runs outside the cooperative pool, so blocking it
/// cannot starve the task it waits for). Never call it from async code.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
  let semaphore = DispatchSemaphore(value: 0)
  let box = ResultBox<T>()
  Task {
    do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
    semaphore.signal()
  }
  semaphore.wait()
  return try box.result!.get()
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
  // @unchecked Sendable: written by one task before the semaphore signal, read after the wait.
  var result: Result<T, any Error>?
}
