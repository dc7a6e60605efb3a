import ArgumentParser
import CustosServer
import Foundation
import Logging

/// `custos witness`: a transparency-log witness (C2SP tlog-witness) for Custos ledgers or any log.
struct WitnessCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "witness",
    abstract: "Run a witness: cosign each checkpoint of the configured logs only if it is consistent with the last one cosigned.",
    discussion: """
      Serves POST /add-checkpoint (C2SP tlog-witness) and answers with timestamped Ed25519 cosignatures (C2SP \
      tlog-cosignature). Its key is created on first start in --key-file (0600); configure custosd with \
      `witnesses: "http://HOST:PORT <the vkey printed at start>"`. A rollback or a fork gets 409 and the size it holds.
      """)

  @Option(help: "HOST:PORT to listen on.") var listen: String = "127.0.0.1:7490"
  @Option(help: "The witness's name in its cosignatures (a schema-less URL).") var name: String = "custos.local/witness"
  @Option(name: .customLong("key-file"), help: "The witness's Ed25519 key (created 0600 when absent).") var keyFile: String
  @Option(name: .customLong("state-file"), help: "Where the latest cosigned checkpoint of each log is kept.") var stateFile: String
  @Option(name: .customLong("log"), help: "A log's verifier key (`custos ledger verifier-key`); repeatable.") var logs: [String]

  func run() async throws {
    guard let address = HostPort(listen) else { throw ValidationError("--listen \(listen) is not HOST:PORT") }
    let settings = WitnessServer.Settings(listen: address, name: name, keyFile: keyFile, stateFile: stateFile, logs: logs)
    FileHandle.standardOutput.write(Data("witness key: \(try WitnessServer.vkey(settings))\n".utf8))
    var logger = Logger(label: "custos-witness")
    logger.logLevel = .info
    try await WitnessServer.run(settings, logger: logger)
  }
}
