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
        clients, token signing keys and the ledger signing key (sealed), revocations and the sealed root key in
        one transaction, then
        verifies the whole copied chain against the last signed checkpoint before it says done. A target that
        already holds a deployment is refused. The database password comes from CUSTOS_DATABASE_PASSWORD.
        """)

    @Option(name: .customLong("from-sqlite"), help: "The single node's data directory (holding custos.sqlite).") var dataDirectory: String
    @Option(name: .customLong("keys-dir"), help: "The single node's keys directory (root.sealed).") var keysDirectory: String
    @Option(name: .customLong("to"), help: "postgres://USER@HOST:PORT/DATABASE[?sslmode=...]") var databaseURL: String

    func run() throws {
      let path = (dataDirectory as NSString).appendingPathComponent("custos.sqlite")
      guard FileManager.default.fileExists(atPath: path) else { throw CLIError("--from-sqlite: no custos.sqlite in \(dataDirectory)") }
      let source = try SQLiteStore(path: path)
      let sealed = try SealedRootKeyFiles(directory: keysDirectory).read()
      guard sealed.current != nil else { throw CLIError("--keys-dir: no root.sealed in \(keysDirectory): is it the single node's keys directory?") }
      let verifier = try Self.ledgerVerifier(source: source, keysDirectory: keysDirectory)
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

    /// The ledger's verifier from the key sealed in the single node's store, named by the origin its
    /// checkpoints carry. A node that still keeps the key in a plain file has not sealed it yet.
    static func ledgerVerifier(source: SQLiteStore, keysDirectory: String) throws -> NoteVerifier {
      guard let stored = try source.ledgerSigningKeyStore.storedSigningKey() else {
        let legacy = (keysDirectory as NSString).appendingPathComponent("ledger-signing.key")
        if FileManager.default.fileExists(atPath: legacy) {
          throw CLIError("the ledger signing key is still the plain file \(legacy): start the single node once and unseal it (it seals the key into its store), stop it, then migrate")
        }
        throw CLIError("--from-sqlite: the store holds no ledger signing key: is it an initialized deployment?")
      }
      let origin = try source.ledgerStorage.latestCheckpoint().flatMap { $0.note.split(separator: "\n").first.map(String.init) } ?? "custos.local/ledger"
      return NoteVerifier(name: origin, publicKey: try Ed25519.PublicKey(rawRepresentation: stored.publicKey))
    }
  }
}
