import ArgumentParser
import CustosBackup
import CustosClient
import CustosLedger
import CustosProtocol
import CustosStore
import Foundation
import GRPCCore

extension OperatorCommand {
  /// `custos operator backup`: an online backup streamed from the daemon, and its offline check.
  struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "backup", abstract: "Take an online backup (admin), or check one offline.",
      subcommands: [Take.self, Verify.self], defaultSubcommand: Take.self)

    struct Take: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        commandName: "take",
        abstract: "Write a consistent backup of the whole deployment to FILE while the daemon serves (recorded in the ledger).",
        discussion: """
          The file (custos-backup/v1, mode 0600) holds the log, keyrings (wrapped), clients, token keys and the ledger key \
          (sealed), revocations, the sealed root key and the policy set, with a manifest signed by the ledger key. Never an \
          unsealed key. Check it with `custos operator backup verify`.
          """)
      @OptionGroup var global: GlobalOptions
      @Option(name: .customLong("out"), help: "The backup file to write (must not exist).") var output: String

      func run() async throws {
        guard !FileManager.default.fileExists(atPath: output) else { throw CLIError("--out \(output) exists: choose a new file") }
        let partial = output + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CLIError("cannot create \(partial): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
          let written = try await DaemonConnection.withClient(global, .mutation(idempotent: false)) { client in
            try await Custos_V1_Operator.Client(wrapping: client).backup(.init()) { response in
              var total: UInt64 = 0
              for try await chunk in response.messages {
                try handle.write(contentsOf: chunk.data)
                total += UInt64(chunk.data.count)
                if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\rbacking up: \(total / (1 << 20)) MiB".utf8)) }
              }
              return total
            }
          }
          try handle.synchronize()
          try handle.close()
          if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
          var reader = try BackupReader(path: partial)
          let verified = try reader.verify(verifierKey: nil)
          try FileManager.default.moveItem(atPath: partial, toPath: output)
          print("wrote \(output): \(written) bytes, \(verified.manifest.treeSize) entries up to the checkpoint at root \(verified.manifest.rootHash)")
        } catch {
          try? FileManager.default.removeItem(atPath: partial)
          throw error
        }
      }
    }

    struct Verify: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Check a backup offline: the manifest's signature, every part's digest, every entry, link, node and checkpoint.")
      @Argument(help: "The backup file.") var file: String
      @Option(help: "The ledger's verifier key (`custos ledger verifier-key`), from a trusted source.") var verifierKey: String
      @Option(name: .customLong("witness"), help: "A witness's key (vkey) whose cosignature counts; repeatable.") var witnesses: [String] = []
      @Option(help: "How many of the --witness keys must have cosigned the backup's checkpoint (default: all).") var quorum: Int?

      func run() throws {
        var reader = try BackupReader(path: file)
        let keys = try witnesses.map { text in
          do { return try CosignerKey(vkey: text) } catch { throw ValidationError("--witness \(text): \(error)") }
        }
        let bar = ProgressBar(label: "verifying")
        do {
          let verified = try reader.verify(verifierKey: verifierKey, witnesses: keys, quorum: quorum ?? keys.count) { done, _ in
            bar.update(done, of: max(done, 1))
          }
          bar.finish()
          let witnessed = keys.isEmpty ? "" : ", cosigned by a quorum of \(quorum ?? keys.count) of the \(keys.count) witnesses"
          print("ok: \(verified.manifest.treeSize) entries, root \(verified.manifest.rootHash), signed by \(verifierKey)\(witnessed)")
        } catch let error as BackupError {
          bar.finish()
          throw CLIError("the backup does not verify: \(error)")
        }
      }
    }
  }

  /// `custos operator restore`: a verified backup into empty directories (or an empty PostgreSQL database).
  struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Restore a backup offline into empty directories or an empty PostgreSQL database, after verifying all of it.",
      discussion: """
        Nothing is written until the whole file verified; a damaged or altered backup is refused naming the part and \
        index, and nothing is left behind. The restored node unseals with the root key's passphrase or shares as before. \
        With --to, the database password comes from CUSTOS_DATABASE_PASSWORD.
        """)
    @Argument(help: "The backup file.") var file: String
    @Option(name: .customLong("data-dir"), help: "The new node's data directory (empty or absent).") var dataDirectory: String
    @Option(name: .customLong("keys-dir"), help: "The new node's keys directory (empty or absent).") var keysDirectory: String
    @Option(name: .customLong("policies-dir"), help: "Where to write the backed-up policy set (empty or absent).") var policiesDirectory: String?
    @Option(name: .customLong("to"), help: "Restore into this empty PostgreSQL database instead (postgres://USER@HOST:PORT/DB).") var databaseURL: String?
    @Option(help: "The ledger's verifier key, from a trusted source (recommended; else the backup's own is shown).") var verifierKey: String?

    func run() throws {
      let password = ProcessInfo.processInfo.environment["CUSTOS_DATABASE_PASSWORD"]
      let targets = BackupRestore.Targets(
        dataDirectory: dataDirectory, keysDirectory: keysDirectory, policiesDirectory: policiesDirectory,
        postgres: try databaseURL.map { try PostgresSettings(url: $0, password: password) })
      let verified: BackupReader.Verified
      do {
        verified = try BackupRestore.restore(file: file, verifierKey: verifierKey, into: targets) { stage, done, total in
          if let total { ProgressBar(label: stage).update(done, of: total) }
        }
      } catch let error as BackupError {
        throw CLIError("the backup does not verify, nothing was restored: \(error)")
      }
      if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
      print("restored \(verified.manifest.treeSize) entries (root \(verified.manifest.rootHash)) into \(databaseURL ?? dataDirectory)")
      if verifierKey == nil { print("the backup was signed by \(verified.manifest.verifierKey): compare it with the ledger's verifier key you hold") }
    }
  }
}
