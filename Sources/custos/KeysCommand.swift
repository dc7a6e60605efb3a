import ArgumentParser
import CustosClient
import CustosCrypto
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// `custos keys ...`: keyrings, and encryption with them.
struct KeysCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "keys", abstract: "Create, rotate, trim and destroy keyrings; encrypt, decrypt and rewrap with them.",
    discussion: "Ciphertexts are printed and read as base64.",
    subcommands: [
      Create.self, List.self, Show.self, Rotate.self, Encrypt.self, Decrypt.self, Rewrap.self, MinDecryptionVersion.self,
      Trim.self, Destroy.self, CancelDestroy.self,
    ])

  static func withKeys<T: Sendable>(
    _ global: GlobalOptions, _ kind: CustosClient.CallKind, _ body: (Custos_V1_Keys.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await DaemonConnection.withClient(global, kind) { try await body(Custos_V1_Keys.Client(wrapping: $0)) }
  }

  /// `--context key=value` pairs.
  struct ContextOptions: ParsableArguments {
    @Option(name: .customLong("context"), help: "Encryption context pair KEY=VALUE (repeatable); decryption needs the same pairs.")
    var pairs: [String] = []

    func dictionary() throws -> [String: String] {
      var context: [String: String] = [:]
      for pair in pairs {
        guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("--context \(pair): expected KEY=VALUE") }
        let key = String(pair[..<equals])
        guard context[key] == nil else { throw ValidationError("--context: \(key) given twice") }
        context[key] = String(pair[pair.index(after: equals)...])
      }
      return context
    }
  }

  static func printKeyring(_ keyring: Custos_V1_Keyring, format: OutputFormat) {
    switch format {
    case .json: Output.json(keyringObject(keyring))
    case .text:
      var line = "\(keyring.name): latest v\(keyring.latestVersion), decrypts v\(keyring.minDecryptionVersion)+, oldest kept v\(keyring.minAvailableVersion)"
      if keyring.rotationPeriodSeconds > 0 { line += ", rotates every \(keyring.rotationPeriodSeconds) s" }
      if keyring.destroyed { line += ", DESTROYED" } else if keyring.destroyAtUnixNano != 0 {
        line += ", destruction scheduled for \(timestamp(keyring.destroyAtUnixNano))"
      }
      print(line)
      for version in keyring.versions {
        var text = "  v\(version.version) created \(timestamp(version.createdUnixNano)), \(version.encryptions) encryptions"
        if version.destroyed { text += ", destroyed" } else if version.destroyAtUnixNano != 0 {
          text += ", destruction scheduled for \(timestamp(version.destroyAtUnixNano))"
        }
        print(text)
      }
    }
  }

  static func keyringObject(_ keyring: Custos_V1_Keyring) -> [String: Any] {
    [
      "name": keyring.name, "created_unix_nano": keyring.createdUnixNano, "latest_version": keyring.latestVersion,
      "min_decryption_version": keyring.minDecryptionVersion, "min_available_version": keyring.minAvailableVersion,
      "rotation_period_seconds": keyring.rotationPeriodSeconds, "destroy_at_unix_nano": keyring.destroyAtUnixNano,
      "destroyed": keyring.destroyed,
      "versions": keyring.versions.map {
        [
          "version": $0.version, "created_unix_nano": $0.createdUnixNano, "encryptions": $0.encryptions,
          "destroy_at_unix_nano": $0.destroyAtUnixNano, "destroyed": $0.destroyed,
        ] as [String: Any]
      },
    ]
  }

  static func timestamp(_ nanoseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds / 1_000_000_000)))
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a keyring with version 1.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Keyring name, [a-z0-9._-].") var name: String
    @Option(help: "Rotate automatically every SECONDS (at least 3600; default off).") var rotationPeriod: Int64 = 0

    func run() async throws {
      let response = try await withKeys(global, .mutation(idempotent: false)) {
        try await $0.createKeyring(.with { $0.name = name; $0.rotationPeriodSeconds = rotationPeriod })
      }
      printKeyring(response.keyring, format: global.output)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List keyrings.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let keyrings = try await withKeys(global, .read) { try await $0.listKeyrings(.init()).keyrings }
      switch global.output {
      case .json: Output.json(["keyrings": keyrings.map(keyringObject)])
      case .text:
        if keyrings.isEmpty { print("no keyrings") }
        for keyring in keyrings { printKeyring(keyring, format: .text) }
      }
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one keyring and its versions.")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String

    func run() async throws {
      printKeyring(try await withKeys(global, .read) { try await $0.getKeyring(.with { $0.name = name }).keyring }, format: global.output)
    }
  }

  struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add a new latest version.")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String

    func run() async throws {
      printKeyring(try await withKeys(global, .mutation(idempotent: false)) { try await $0.rotate(.with { $0.keyring = name }).keyring }, format: global.output)
    }
  }

  struct Encrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encrypt standard input (or --in FILE); prints the base64 ciphertext.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var context: ContextOptions
    @Argument var name: String
    @Option(name: .customLong("in"), help: "Read the plaintext from FILE instead of standard input.") var input: String?

    func run() async throws {
      var plaintext = try input.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? FileHandle.standardInput.readDataToEndOfFile()
      defer { plaintext.resetBytes(in: 0..<plaintext.count) }
      let pairs = try context.dictionary()
      let response = try await DaemonConnection.withCustos(global) { [plaintext] client in
        try await client.encrypt(keyring: name, plaintext: plaintext, context: pairs)
      }
      switch global.output {
      case .json:
        Output.json(["ciphertext": response.ciphertext.base64EncodedString(), "key_version": response.keyVersion, "ledger_index": response.receipt.index])
      case .text: print(response.ciphertext.base64EncodedString())
      }
    }
  }

  struct Decrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decrypt a base64 ciphertext; writes the plaintext to standard output.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var context: ContextOptions
    @Argument var name: String
    @Argument(help: "The base64 ciphertext.") var ciphertext: String

    func run() async throws {
      guard let bytes = Data(base64Encoded: ciphertext.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw ValidationError("the ciphertext is not base64")
      }
      let pairs = try context.dictionary()
      let response = try await withKeys(global, .mutation(idempotent: false)) { client in
        try await client.decrypt(.with { $0.keyring = name; $0.ciphertext = bytes; $0.context = pairs })
      }
      switch global.output {
      case .json:
        Output.json(["plaintext_base64": response.plaintext.base64EncodedString(), "key_version": response.keyVersion, "ledger_index": response.receipt.index])
      case .text: FileHandle.standardOutput.write(response.plaintext)
      }
    }
  }

  struct Rewrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Rewrap every base64 ciphertext in FILE (one per line) to the latest version, in place.",
      discussion: "The file is replaced atomically once every line is rewrapped; if any line fails nothing is written.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var context: ContextOptions
    @Argument var name: String
    @Argument(help: "A file of base64 ciphertexts, one per line.") var file: String
    @Option(help: "Ciphertexts per BatchRewrap call.") var batchSize = 500

    func run() async throws {
      guard (1...1000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 1000") }
      let text = try String(contentsOfFile: file, encoding: .utf8)
      var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      if lines.last == "" { lines.removeLast() }
      var items: [(line: Int, bytes: Data)] = []
      for (i, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        guard let bytes = Data(base64Encoded: line.trimmingCharacters(in: .whitespaces)) else {
          throw ValidationError("\(file):\(i + 1): not base64")
        }
        items.append((i, bytes))
      }
      let pairs = try context.dictionary()
      let bar = ProgressBar(label: "rewrapping")
      var failures: [String] = []
      var versions: [UInt32: Int] = [:]
      try await withKeys(global, .mutation(idempotent: false)) { client in
        var done = 0
        while done < items.count {
          let chunk = items[done..<min(done + batchSize, items.count)]
          let response = try await client.batchRewrap(.with {
            $0.keyring = name
            $0.items = chunk.map { item in .with { $0.ciphertext = item.bytes; $0.context = pairs } }
          })
          for (item, result) in zip(chunk, response.results) {
            switch result.result {
            case let .ok(ok):
              lines[item.line] = ok.ciphertext.base64EncodedString()
              versions[ok.fromVersion, default: 0] += 1
            case let .error(error): failures.append("\(file):\(item.line + 1): \(error.message)")
            case nil: failures.append("\(file):\(item.line + 1): no result")
            }
          }
          done += chunk.count
          bar.update(UInt64(done), of: UInt64(items.count))
        }
      }
      bar.finish()
      guard failures.isEmpty else {
        throw CLIError("\(failures.count) of \(items.count) ciphertexts did not rewrap; \(file) is unchanged:\n" + failures.prefix(20).joined(separator: "\n"))
      }
      let temporary = file + ".rewrap-tmp"
      try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: temporary), options: .atomic)
      guard rename(temporary, file) == 0 else { throw CLIError("cannot replace \(file): \(String(cString: strerror(errno)))") }
      switch global.output {
      case .json: Output.json(["rewrapped": items.count, "from_versions": Dictionary(uniqueKeysWithValues: versions.map { ("\($0.key)", $0.value) })])
      case .text: print("rewrapped \(items.count) ciphertexts in \(file)")
      }
    }
  }

  struct MinDecryptionVersion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "min-decryption-version", abstract: "Versions below VERSION stop decrypting (until lowered again).")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String
    @Argument var version: UInt32

    func run() async throws {
      printKeyring(try await withKeys(global, .mutation(idempotent: false)) { try await $0.setMinDecryptionVersion(.with { $0.keyring = name; $0.version = version }).keyring }, format: global.output)
    }
  }

  struct Trim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete every version below MIN for good (MIN at most the minimum decryption version).")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String
    @Argument(help: "The oldest version to keep.") var min: UInt32

    func run() async throws {
      printKeyring(try await withKeys(global, .mutation(idempotent: false)) { try await $0.trim(.with { $0.keyring = name; $0.minAvailableVersion = min }).keyring }, format: global.output)
    }
  }

  struct Destroy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Schedule destruction of a version (--version) or the whole keyring; unusable at once, erased after the waiting period.")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String
    @Option(help: "One version (default: the whole keyring).") var version: UInt32?
    @Option(help: "Days before the key material is erased, 7-30.") var waitingDays: UInt32 = 30

    func run() async throws {
      let response = try await withKeys(global, .mutation(idempotent: false)) {
        try await $0.scheduleDestroy(.with { $0.keyring = name; $0.version = version ?? 0; $0.waitingDays = waitingDays })
      }
      printKeyring(response.keyring, format: global.output)
    }
  }

  struct CancelDestroy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel-destroy", abstract: "Cancel a scheduled destruction.")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String
    @Option(help: "One version (default: the whole keyring).") var version: UInt32?

    func run() async throws {
      printKeyring(try await withKeys(global, .mutation(idempotent: false)) { try await $0.cancelDestroy(.with { $0.keyring = name; $0.version = version ?? 0 }).keyring }, format: global.output)
    }
  }
}
