import ArgumentParser
import Foundation

/// Options every command that calls the daemon takes.
struct GlobalOptions: ParsableArguments {
  @Option(help: "The daemon's gRPC address, HOST:PORT, or several nodes' separated by commas, tried in order (default: $CUSTOS_SERVER or 127.0.0.1:7443).")
  var server: String?

  @Option(help: "text (for people) or json (one JSON document per result, for scripts).")
  var output: OutputFormat = .text

  @Option(help: "An access token (default: $CUSTOS_TOKEN; else one is issued for $CUSTOS_CLIENT_ID/$CUSTOS_CLIENT_SECRET or the --credentials file).")
  var token: String?

  @Option(help: "A JSON file {\"client_id\", \"client_secret\"} to get a token with (default: $CUSTOS_CREDENTIALS).")
  var credentials: String?

  @Option(help: "Use TLS, trusting this PEM CA bundle for the server (default: $CUSTOS_TLS_CA; plaintext without it).")
  var tlsCa: String?

  @Option(help: "PEM client certificate for mutual TLS (default: $CUSTOS_TLS_CERT).")
  var tlsCert: String?

  @Option(help: "PEM client private key for mutual TLS (default: $CUSTOS_TLS_KEY).")
  var tlsKey: String?

  /// The addresses to dial: the flag, else CUSTOS_SERVER, else the default; a comma-separated list
  /// names several nodes, tried in order.
  func serverAddresses() throws -> [(host: String, port: Int)] {
    let text = server ?? ProcessInfo.processInfo.environment["CUSTOS_SERVER"] ?? "127.0.0.1:7443"
    return try text.split(separator: ",").map { item in
      let item = item.trimmingCharacters(in: .whitespaces)
      guard let colon = item.lastIndex(of: ":"), let port = Int(item[item.index(after: colon)...]), (1...65535).contains(port) else {
        throw ValidationError("server address \"\(item)\" is not HOST:PORT")
      }
      var host = String(item[..<colon])
      if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
      return (host.isEmpty ? "127.0.0.1" : host, port)
    }
  }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}
