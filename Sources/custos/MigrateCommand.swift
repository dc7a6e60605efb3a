import ArgumentParser
import CustosCrypto
import CustosLedger
import CustosStore
import Foundation

extension OperatorCommand {
  /// `custos operator migrate`: moves a single-node deployment onto PostgreSQL, for several nodes.
  struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "migrate",
      abstract: "Copy a single-node deployment (SQLite) into an empty PostgreSQL database, all or nothing, and verify it.",
      discussion: """
        Stop the single node first. Copies ledger entries, Merkle nodes and checkpoints, keyrings (as wrapped),
        clients, token signing keys (sealed), revocations and the sealed root key in one transaction, then
        verifies the whole copied chain against the last signed checkpoint before it says done. A target that
        already holds a deployment is refused. The database password comes from CUSTOS_DATABASE_PASSWORD.
        """)

    @Option(name: .customLong("from-sqlite"), help: "The single node's data directory (holding custos.sqlite).") var dataDirectory: String
    @Option(name: .customLong("keys-dir"), help: "The single node's keys directory (root.sealed, ledger-signing.key).") var keysDirectory: String
    @Option(name: .customLong("to"), help: "postgres://USER@HOST:PORT/DATABASE[?sslmode=...]") var databaseURL: String

    func run() throws {
      let path = (dataDirectory as NSString).appendingPathComponent("custos.sqlite")
      guard FileManager.default.fileExists(atPath: path) else { throw CLIError("--from-sqlite: no custos.sqlite in \(dataDirectory)") }
      let source = try SQLiteStore(path: path)
      let sealed = try SealedRootKeyFiles(directory: keysDirectory).read()
      guard sealed.current != nil else { throw CLIError("--keys-dir: no root.sealed in \(keysDirectory): is it the single node's keys directory?") }
      let verifier = try Self.ledgerVerifier(keysDirectory: keysDirectory, source: source)
      let password = ProcessInfo.processInfo.environment["CUSTOS_DATABASE_PASSWORD"]
      let target = try PostgresStore(settings: try PostgresSettings(url: databaseURL, password: password))
      defer { target.shutdown() }

      let bar = ProgressBar(label: "copying")
      let copied = try target.importDeployment(from: source, sealedRootKey: sealed) { done, total in bar.update(done, of: total) }
      bar.finish()
      let check = ProgressBar(label: "verifying")
      let report = try LedgerVerifier(storage: target.ledgerStorage, verifier: verifier).verify { done, total in check.update(done, of: total) }
      check.finish()
      guard report.ok, report.checked == copied, try target.ledgerStorage.tip() == source.ledgerStorage.tip() else {
        let failure = report.failure.map { "entry \($0.index): \($0.reason)" } ?? "\(report.checked) of \(copied) entries checked"
        throw CLIError("the copy in \(target.settings) does not verify (\(failure)); do not start nodes on it — drop and recreate the database")
      }
      print("copied \(copied) entries, keyrings, clients, token keys, revocations and the sealed root key to \(target.settings)")
      print("verified all \(copied) entries against the last signed checkpoint; start nodes with --store postgres --database-url \(databaseURL)")
    }

    /// The ledger's verifier from the single node's key file, named by the origin its checkpoints carry.
    static func ledgerVerifier(keysDirectory: String, source: SQLiteStore) throws -> NoteVerifier {
      let file = (keysDirectory as NSString).appendingPathComponent("ledger-signing.key")
      guard var seed = FileManager.default.contents(atPath: file).map({ [UInt8]($0) }), seed.count == Ed25519.privateKeyLength else {
        throw CLIError("--keys-dir: \(file) is missing or not 32 bytes")
      }
      defer { SecretBytes.wipe(&seed) }
      let key = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: seed))
      let origin = try source.ledgerStorage.latestCheckpoint().flatMap { $0.note.split(separator: "\n").first.map(String.init) } ?? "custos.local/ledger"
      return NoteVerifier(name: origin, publicKey: key.publicKey)
    }
  }
}
