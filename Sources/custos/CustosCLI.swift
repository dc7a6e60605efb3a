import ArgumentParser

/// `custos`: the command-line client of a running `custosd`.
@main
struct CustosCLI: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "custos",
    abstract: "Talk to a running custosd: authorization checks, policies, the audit ledger, keys and tokens.",
    discussion: "The daemon is found by --server HOST:PORT or the CUSTOS_SERVER environment variable (default 127.0.0.1:7443).",
    subcommands: [LedgerCommand.self, CheckCommand.self, PolicyCommand.self, KeysCommand.self, OperatorCommand.self, ClientsCommand.self, TokenCommand.self, ReportCommand.self, WitnessCommand.self])
}
