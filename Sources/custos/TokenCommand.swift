import ArgumentParser
import CustosClient
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// `custos token ...` and `custos clients ...`: service identities and their access tokens.
struct TokenCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "token", abstract: "Issue, introspect and revoke access tokens; print or rotate the signing keys.",
    subcommands: [Issue.self, Introspect.self, Revoke.self, JWKS.self, RotateSigningKey.self])

  static func withTokens<T: Sendable>(
    _ global: GlobalOptions, _ kind: CustosClient.CallKind, _ body: (Custos_V1_Tokens.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await DaemonConnection.withClient(global, kind) { try await body(Custos_V1_Tokens.Client(wrapping: $0)) }
  }

  struct Issue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Exchange client credentials for an access token (prints the token).",
      discussion: "The secret is read from --secret-file or prompted for, never taken as an argument (it would land in shell history).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The client id.") var clientID: String
    @Option(help: "A file holding the client secret.") var secretFile: String?
    @Option(help: "The audience (default: custos).") var audience: String = ""
    @Option(help: "Requested scope.") var scope: String = ""

    func run() async throws {
      let secret = try SecretInput.read(file: secretFile, prompt: "Client secret: ")
      let response = try await withTokens(global, .mutation(idempotent: false)) { client in
        try await client.issueToken(.with {
          $0.clientID = clientID
          $0.clientSecret = String(decoding: secret, as: UTF8.self)
          $0.audience = audience
          $0.scope = scope
        })
      }
      switch global.output {
      case .json: Output.json(["access_token": response.accessToken, "token_type": response.tokenType, "expires_in": response.expiresIn])
      case .text: print(response.accessToken)
      }
    }
  }

  struct Introspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Whether a token is active, and its claims (RFC 7662).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The token to inspect.") var subject: String

    func run() async throws {
      let response = try await withTokens(global, .read) { try await $0.introspect(.with { $0.token = subject }) }
      switch global.output {
      case .json:
        if response.active { print(String(decoding: response.claims, as: UTF8.self)) } else { Output.json(["active": false, "reason": response.reason]) }
      case .text: print(response.active ? String(decoding: response.claims, as: UTF8.self) : "inactive: \(response.reason)")
      }
      if !response.active { throw ExitCode(3) }
    }
  }

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke one token (--jti) or every token of a client (--client-id).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The token's jti claim.") var jti: String?
    @Option(name: .customLong("client"), help: "Revoke every token this client was issued so far.") var client: String?

    func run() async throws {
      guard (jti == nil) != (client == nil) else { throw ValidationError("give exactly one of --jti and --client") }
      let response = try await withTokens(global, .mutation(idempotent: false)) { tokens in
        try await tokens.revoke(.with {
          if let jti { $0.jti = jti }
          if let client { $0.clientID = client }
        })
      }
      switch global.output {
      case .json: Output.json(["revoked": true, "ledger_index": response.receipt.index])
      case .text: print("revoked (ledger index \(response.receipt.index))")
      }
    }
  }

  struct JWKS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jwks", abstract: "Print the published signing keys (JWKS JSON).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      print(String(decoding: try await withTokens(global, .read) { try await $0.getJWKS(.init()).json }, as: UTF8.self))
    }
  }

  struct RotateSigningKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rotate-signing-key", abstract: "Publish a new signing key now; it signs after the lead time.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      print(String(decoding: try await withTokens(global, .mutation(idempotent: false)) { try await $0.rotateSigningKey(.init()).json }, as: UTF8.self))
    }
  }
}

struct ClientsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "clients", abstract: "Register services, rotate their secrets, disable them.",
    subcommands: [Create.self, List.self, RotateSecret.self, Disable.self])

  static func printCreated(_ response: Custos_V1_CreateClientResponse, format: OutputFormat) {
    switch format {
    case .json:
      Output.json(["client_id": response.client.clientID, "client_secret": response.clientSecret, "roles": response.client.roles])
    case .text:
      print("client \(response.client.clientID) (roles: \(response.client.roles.joined(separator: ", ")))")
      print("secret, shown ONCE (stored only as an Argon2id hash): \(response.clientSecret)")
    }
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Register a service; prints its secret once.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The client id ([a-z0-9._-]); its Cedar principal is Service::\"<id>\".") var clientID: String
    @Option(help: "A display name.") var name: String = ""
    @Option(help: "A Cedar role uid, e.g. 'Role::\"payments\"' (repeatable).") var role: [String] = []
    @Option(help: "An audience it may get tokens for (repeatable; default: custos).") var audience: [String] = []
    @Option(help: "Token lifetime in seconds (default 900).") var ttl: Int64 = 0

    func run() async throws {
      let response = try await TokenCommand.withTokens(global, .mutation(idempotent: false)) { tokens in
        try await tokens.createClient(.with {
          $0.clientID = clientID
          $0.displayName = name
          $0.roles = role
          $0.audiences = audience.isEmpty ? ["custos"] : audience
          $0.tokenTtlSeconds = ttl
        })
      }
      printCreated(response, format: global.output)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List clients.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let clients = try await TokenCommand.withTokens(global, .read) { try await $0.listClients(.init()).clients }
      switch global.output {
      case .json:
        Output.json(["clients": clients.map {
          ["client_id": $0.clientID, "display_name": $0.displayName, "roles": $0.roles, "audiences": $0.audiences,
           "token_ttl_seconds": $0.tokenTtlSeconds, "disabled": $0.disabled] as [String: Any]
        }])
      case .text:
        for client in clients {
          print("\(client.clientID)\(client.disabled ? " (disabled)" : ""): roles \(client.roles.joined(separator: ", ")); audiences \(client.audiences.joined(separator: ", ")); ttl \(client.tokenTtlSeconds) s")
        }
      }
    }
  }

  struct RotateSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rotate-secret", abstract: "A new secret, shown once; the old one keeps working for the overlap.")
    @OptionGroup var global: GlobalOptions
    @Argument var clientID: String
    @Option(help: "Seconds the previous secret stays valid (default 86400).") var overlap: Int64 = 0

    func run() async throws {
      let response = try await TokenCommand.withTokens(global, .mutation(idempotent: false)) { try await $0.rotateClientSecret(.with { $0.clientID = clientID; $0.overlapSeconds = overlap }) }
      printCreated(response, format: global.output)
    }
  }

  struct Disable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Disable a client and revoke its tokens.")
    @OptionGroup var global: GlobalOptions
    @Argument var clientID: String

    func run() async throws {
      let client = try await TokenCommand.withTokens(global, .mutation(idempotent: false)) { try await $0.disableClient(.with { $0.clientID = clientID }) }
      switch global.output {
      case .json: Output.json(["client_id": client.clientID, "disabled": client.disabled])
      case .text: print("client \(client.clientID) disabled; its tokens are revoked")
      }
    }
  }
}
