import ArgumentParser
import CustosClient
import CustosCrypto
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// `custos operator ...`: the root key's lifecycle.
struct OperatorCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "operator", abstract: "Initialize, unseal, seal and rotate the root key; move a single node to PostgreSQL.",
    subcommands: [Init.self, Unseal.self, Seal.self, Status.self, RotateRoot.self, Migrate.self, Backup.self, Restore.self])

  static func withOperator<T: Sendable>(
    _ global: GlobalOptions, _ kind: CustosClient.CallKind, _ body: (Custos_V1_Operator.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await DaemonConnection.withClient(global, kind) { try await body(Custos_V1_Operator.Client(wrapping: $0)) }
  }

  static func printStatus(_ status: Custos_V1_SealStatus, format: OutputFormat) {
    let state: String
    switch status.state {
    case .uninitialized: state = "uninitialized"
    case .sealed: state = "sealed"
    case .unsealed: state = "unsealed"
    default: state = "unknown"
    }
    switch format {
    case .json:
      Output.json([
        "state": state, "method": status.method, "shares_given": status.sharesGiven, "threshold": status.threshold,
        "root_key_id": status.rootKeyID,
      ])
    case .text:
      switch status.state {
      case .sealed where status.method == "shamir":
        print("sealed (shamir): \(status.sharesGiven) of \(status.threshold) shares given")
      case .sealed: print("sealed (\(status.method))")
      case .unsealed: print("unsealed, root key \(status.rootKeyID)")
      default: print(state)
      }
    }
  }

  struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create the root key and seal it under a passphrase, or split its unseal key into Shamir shares.",
      discussion: "Shares are printed once and stored nowhere: hand each to a different operator.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Read the passphrase from this file (otherwise it is prompted for).") var passphraseFile: String?
    @Option(help: "Split into this many Shamir shares instead of a passphrase.") var shares: UInt32?
    @Option(help: "Shares needed to unseal (with --shares).") var threshold: UInt32?

    func run() async throws {
      let request: Custos_V1_InitializeRequest
      if let shares {
        guard let threshold else { throw ValidationError("--threshold is required with --shares") }
        request = .with { $0.shamir = .with { $0.shares = shares; $0.threshold = threshold } }
      } else {
        guard threshold == nil else { throw ValidationError("--threshold needs --shares") }
        var passphrase = try SecretInput.read(file: passphraseFile, prompt: "New root-key passphrase: ")
        if passphraseFile == nil {
          var again = try SecretInput.readLine(prompt: "Repeat it: ")
          defer { SecretBytes.wipe(&again) }
          guard again == passphrase else { throw ValidationError("the passphrases differ") }
        }
        defer { SecretBytes.wipe(&passphrase) }
        request = .with { $0.passphrase = Data(passphrase) }
      }
      let response = try await withOperator(global, .mutation(idempotent: false)) { try await $0.initialize(request) }
      switch global.output {
      case .json:
        Output.json([
          "root_key_id": response.rootKeyID, "shares": response.shares, "admin_client_id": response.adminClientID,
          "admin_client_secret": response.adminClientSecret,
        ])
      case .text:
        print("root key \(response.rootKeyID) created; custosd is unsealed")
        print("\nFirst admin client — its secret is shown ONCE, stored only as an Argon2id hash:")
        print("  client_id:     \(response.adminClientID)")
        print("  client_secret: \(response.adminClientSecret)")
        if !response.shares.isEmpty {
          print("\nUnseal shares — shown ONCE, stored nowhere. Give each to a different operator:\n")
          for (i, share) in response.shares.enumerated() { print("  share \(i + 1): \(share)") }
          print("\n\(request.shamir.threshold) of \(response.shares.count) shares unseal the root key.")
        }
      }
    }
  }

  struct Unseal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Unseal with the passphrase, or give one share (run once per operator until the threshold).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Read the passphrase from this file.") var passphraseFile: String?
    @Option(help: "One unseal share (otherwise prompted for: a share when sealed with shares, else the passphrase).") var share: String?

    func run() async throws {
      try await withOperator(global, .mutation(idempotent: false)) { client in
        let status = try await client.status(.init())
        let request: Custos_V1_UnsealRequest
        if let share {
          request = .with { $0.share = share }
        } else if status.method == "shamir" && passphraseFile == nil {
          let typed = try SecretInput.readLine(prompt: "Unseal share (\(status.sharesGiven + 1) of \(status.threshold)): ")
          request = .with { $0.share = String(decoding: typed, as: UTF8.self) }
        } else {
          var passphrase = try SecretInput.read(file: passphraseFile, prompt: "Root-key passphrase: ")
          defer { SecretBytes.wipe(&passphrase) }
          request = .with { $0.passphrase = Data(passphrase) }
        }
        printStatus(try await client.unseal(request), format: global.output)
      }
    }
  }

  struct Seal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Drop the root key and every unwrapped key from the daemon's memory.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      printStatus(try await withOperator(global, .mutation(idempotent: false)) { try await $0.seal(.init()) }, format: global.output)
    }
  }

  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sealed, unsealed or uninitialized.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      printStatus(try await withOperator(global, .read) { try await $0.status(.init()) }, format: global.output)
    }
  }

  struct RotateRoot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rotate-root", abstract: "Replace the root key; every keyring key is rewrapped under the new one.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let response = try await withOperator(global, .mutation(idempotent: false)) { try await $0.rotateRoot(.init()) }
      switch global.output {
      case .json:
        Output.json([
          "previous_root_key_id": response.previousRootKeyID, "root_key_id": response.rootKeyID,
          "keyrings_rewrapped": response.keyringsRewrapped,
        ])
      case .text:
        print("root key \(response.previousRootKeyID) replaced by \(response.rootKeyID); \(response.keyringsRewrapped) keyrings rewrapped")
      }
    }
  }
}
