import ArgumentParser
import CustosLedger
import CustosClient
import CustosEvidence
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// `custos report ...`: signed evidence bundles, and their offline verification.
struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report", abstract: "Export signed compliance evidence; verify a bundle offline.",
    subcommands: [Export.self, Verify.self])

  /// RFC 3339 (`2026-11-01T00:00:00Z`), a date (`2026-11-01`, midnight UTC), or nanoseconds since the epoch.
  static func time(_ text: String, _ name: String) throws -> Int64 {
    if let nanoseconds = Int64(text) { return nanoseconds }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    var date = formatter.date(from: text)
    if date == nil {
      formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      date = formatter.date(from: text)
    }
    if date == nil {
      formatter.formatOptions = [.withFullDate]
      date = formatter.date(from: text)
    }
    guard let date else { throw ValidationError("--\(name) \(text): expected RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or nanoseconds") }
    return Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded())
  }

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write the evidence bundle of a time range to a directory (and optionally a .tar.gz).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Start of the range (inclusive): RFC 3339, a date, or nanoseconds.") var from: String
    @Option(help: "End of the range (exclusive).") var to: String
    @Option(help: "Report views only: this kind (repeatable).") var kind: [String] = []
    @Option(help: "Report views only: this actor (repeatable).") var actor: [String] = []
    @Option(help: "The bundle directory (created; must be empty if it exists).") var out: String
    @Flag(help: "Also write OUT.tar.gz.") var tar = false
    @Option(help: "Also print a tabular view to standard output: csv or jsonl.") var format: TableFormat?

    enum TableFormat: String, ExpressibleByArgument { case csv, jsonl }

    func run() async throws {
      let fromTime = try ReportCommand.time(from, "from")
      let toTime = try ReportCommand.time(to, "to")
      guard fromTime < toTime else { throw ValidationError("--from must be before --to") }
      try Self.prepare(out)
      // Chunks go straight to their files: a bundle of millions of entries never sits in memory.
      let order = try await DaemonConnection.withClient(global, .mutation(idempotent: false)) { client in
        try await Custos_V1_Reports.Client(wrapping: client).export(.with {
          $0.fromUnixNano = fromTime
          $0.toUnixNano = toTime
          $0.kinds = kind
          $0.actors = actor
        }) { response in
          let writer = EvidenceDirectoryWriter(path: out)
          do {
            for try await chunk in response.messages { try writer.write(chunk.file, chunk.data) }
            try writer.finish()
          } catch let error as EvidenceDirectoryWriter.WriteError {
            throw CLIError("\(error)")
          }
          return writer.files
        }
      }
      if tar {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let directory = URL(fileURLWithPath: out).standardizedFileURL
        process.arguments = ["tar", "-czf", directory.path + ".tar.gz", "-C", directory.deletingLastPathComponent().path, directory.lastPathComponent]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CLIError("tar failed with status \(process.terminationStatus)") }
      }
      func file(_ name: String) -> Data { FileManager.default.contents(atPath: (out as NSString).appendingPathComponent(name)) ?? Data() }
      switch format {
      case .csv?: FileHandle.standardOutput.write(file(EvidenceBundle.summaryCSVFile))
      case .jsonl?: FileHandle.standardOutput.write(file(EvidenceBundle.entriesFile))
      case nil:
        switch global.output {
        case .json: Output.json(["out": out, "files": order])
        case .text: print("wrote \(order.count) files to \(out); check them with: custos report verify \(out) --verifier-key KEY")
        }
      }
    }
    /// Creates the directory, or accepts an existing empty one: a bundle is never mixed with other files.
    static func prepare(_ directory: String) throws {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
        guard isDirectory.boolValue else { throw CLIError("\(directory) exists and is not a directory") }
        guard (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty ?? false else {
          throw CLIError("\(directory) is not empty: choose a new directory for the bundle")
        }
      } else {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
          throw CLIError("cannot create \(directory): \(error.localizedDescription)")
        }
      }
      guard FileManager.default.isWritableFile(atPath: directory) else { throw CLIError("\(directory) is not writable") }
    }
  }

  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Verify a bundle offline (no daemon, no database): prints PASS, or FAIL with the file, index and reason.")
    @Argument(help: "The bundle directory.") var directory: String
    @Option(help: "The ledger's verifier key (from `custos ledger verifier-key`, obtained independently).") var verifierKey: String
    @Option(name: .customLong("witness"), help: "A witness's key (vkey) whose cosignature on the checkpoint counts; repeatable.")
    var witnesses: [String] = []
    @Option(help: "How many of the --witness keys must have cosigned the checkpoint (default: all).") var quorum: Int?
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() throws {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CLIError("\(directory) is not a bundle directory")
      }
      let files = EvidenceDirectory(path: directory)
      let keys = try witnesses.map { text in
        do { return try CosignerKey(vkey: text) } catch { throw ValidationError("--witness \(text): \(error)") }
      }
      let bar = ProgressBar(label: "verifying")
      do {
        let verified = try EvidenceVerifier(verifierKey: verifierKey, witnesses: keys, quorum: quorum ?? keys.count).verify(files) {
          bar.update($0, of: $1)
        }
        bar.finish()
        switch output {
        case .json:
          Output.json([
            "result": "PASS", "entries": verified.entries, "first_index": verified.manifest.firstIndex,
            "last_index": verified.manifest.lastIndex, "tree_size": verified.manifest.treeSize,
          ])
        case .text:
          print("PASS: \(verified.entries) entries (\(verified.manifest.firstIndex)...\(verified.manifest.lastIndex)) of \(verified.manifest.origin), proven in the signed checkpoint of size \(verified.manifest.treeSize)")
        }
      } catch {
        bar.finish()
        switch output {
        case .json:
          var object: [String: Any] = ["result": "FAIL", "file": error.file, "reason": error.reason]
          if let index = error.index { object["index"] = index }
          Output.json(object)
        case .text: print("FAIL: \(error)")
        }
        throw ExitCode(1)
      }
    }
  }
}
