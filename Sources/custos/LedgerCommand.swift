import ArgumentParser
import CustosClient
import CustosCrypto
import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore

/// `custos ledger ...`: the audit ledger.
struct LedgerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ledger", abstract: "Append to, read, prove and verify the audit ledger.",
    subcommands: [
      Append.self, Tail.self, Get.self, Query.self, Verify.self, CheckpointCommand.self, ProveInclusion.self,
      ProveConsistency.self, VerifierKey.self,
    ])

  struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Append one event; prints its receipt once it is durable.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Event kind, [a-z0-9._-].") var kind = "audit.event"
    @Option(help: "Who acted, e.g. 'Service::\"deploy-bot\"'.") var actor: String
    @Option(help: "What was done.") var action: String
    @Option(help: "On what.") var resource: String
    @Option(help: "The result, e.g. success or failure.") var outcome: String
    @Option(help: "A JSON object of further details (integers only).") var details: String = "{}"

    func run() async throws {
      let event = Custos_V1_AuditEvent.with {
        $0.kind = kind
        $0.actor = actor
        $0.action = action
        $0.resource = resource
        $0.outcome = outcome
        $0.details = Data(details.utf8)
      }
      let receipt = try await DaemonConnection.withCustos(global) { try await $0.append(event) }
      switch global.output {
      case .json:
        Output.json(["index": receipt.index, "leaf_hash": Output.hex(receipt.leafHash), "time_unix_nano": receipt.timeUnixNano])
      case .text:
        print("appended index \(receipt.index) leaf \(Output.hex(receipt.leafHash))")
      }
    }
  }

  struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the last entries.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.customShort("n"), .long], help: "How many.") var count: UInt64 = 10

    func run() async throws {
      try await DaemonConnection.withAuditLog(global, .read) { client in
        let size = try await client.getCheckpoint(.init()).size
        try await client.getEntries(.with { $0.start = size - min(size, count); $0.end = size }) { response in
          for try await entry in response.messages { Output.printEntry(entry, format: global.output) }
        }
      }
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print entries by index: INDEX, or INDEX --to END (exclusive).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "First index.") var index: UInt64
    @Option(help: "Last index, exclusive (default INDEX+1).") var to: UInt64?

    func run() async throws {
      let end = to ?? index + 1
      guard end > index else { throw ValidationError("--to must be greater than INDEX") }
      try await DaemonConnection.withAuditLog(global, .read) { client in
        try await client.getEntries(.with { $0.start = index; $0.end = end }) { response in
          for try await entry in response.messages { Output.printEntry(entry, format: global.output) }
        }
      }
    }
  }

  struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print entries matching filters, one page (use --start-index to page on).")
    @OptionGroup var global: GlobalOptions
    @Option var kind: String?
    @Option var actor: String?
    @Option var action: String?
    @Option var resource: String?
    @Option var outcome: String?
    @Option(help: "Only entries at or after this time: RFC 3339 (2026-11-25T10:00:00Z) or Unix nanoseconds.") var since: String?
    @Option(help: "Only entries before this time: RFC 3339 or Unix nanoseconds.") var until: String?
    @Option(help: "Cursor: the first index to consider.") var startIndex: UInt64 = 0
    @Option(help: "Page size, 1-1000.") var limit: UInt32 = 100

    func run() async throws {
      let request = Custos_V1_QueryRequest.with {
        $0.kind = kind ?? ""
        $0.actor = actor ?? ""
        $0.action = action ?? ""
        $0.resource = resource ?? ""
        $0.outcome = outcome ?? ""
        $0.startIndex = startIndex
        $0.limit = limit
      }
      var withTimes = request
      withTimes.timeFromUnixNano = try since.map(Self.nanoseconds) ?? 0
      withTimes.timeToUnixNano = try until.map(Self.nanoseconds) ?? 0
      let finalRequest = withTimes
      try await DaemonConnection.withAuditLog(global, .read) { client in
        try await client.query(finalRequest) { response in
          for try await entry in response.messages { Output.printEntry(entry, format: global.output) }
        }
      }
    }

    static func nanoseconds(_ text: String) throws -> Int64 {
      if let n = Int64(text) { return n }
      let formatter = ISO8601DateFormatter()
      formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      let plain = ISO8601DateFormatter()
      guard let date = formatter.date(from: text) ?? plain.date(from: text) else {
        throw ValidationError("\"\(text)\" is neither RFC 3339 nor Unix nanoseconds")
      }
      return Int64(date.timeIntervalSince1970 * 1_000_000_000)
    }
  }

  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Re-verify stored entries: bytes, leaf hashes, prev links and the Merkle root against the latest checkpoint.",
      discussion: "Exits 0 when everything matches, 1 with the first bad index and the reason otherwise.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "First index.") var start: UInt64 = 0
    @Option(help: "Last index, exclusive (default: the checkpoint size).") var end: UInt64?

    func run() async throws {
      let bar = ProgressBar(label: "verifying")
      let result = try await DaemonConnection.withAuditLog(global, .read) { client in
        try await client.verify(.with { $0.start = start; $0.end = end ?? 0 }) { response in
          var result: Custos_V1_VerifyResult?
          for try await progress in response.messages {
            if progress.hasResult { result = progress.result } else { bar.update(progress.verified, of: progress.total) }
          }
          bar.finish()
          guard let result else { throw CLIError("the daemon ended the verification without a result") }
          return result
        }
      }
      switch global.output {
      case .json:
        var object: [String: Any] = [
          "ok": result.ok, "checked": result.checked, "checkpoint_size": result.checkpointSize,
          "checkpoint_root_hash": Output.hex(result.checkpointRootHash),
        ]
        if !result.ok {
          object["first_bad_index"] = result.firstBadIndex
          object["reason"] = result.reason
        }
        Output.json(object)
      case .text:
        if result.ok {
          print("PASS: \(result.checked) entries verified against checkpoint size \(result.checkpointSize) root \(Output.hex(result.checkpointRootHash))")
        } else {
          print("FAIL at index \(result.firstBadIndex): \(result.reason)")
        }
      }
      if !result.ok { throw ExitCode(1) }
    }
  }

  struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "checkpoint", abstract: "Print the latest signed checkpoint (a C2SP signed note).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Verify the signature with this verifier key (name+keyhash+base64).") var verifierKey: String?

    func run() async throws {
      let checkpoint = try await DaemonConnection.withAuditLog(global, .read) { try await $0.getCheckpoint(.init()) }
      if let verifierKey {
        let verifier = try NoteVerifier(verifierKey: verifierKey)
        _ = try SignedCheckpoint(note: checkpoint.signedNote, verifier: verifier)
      }
      switch global.output {
      case .json:
        Output.json([
          "origin": checkpoint.origin, "size": checkpoint.size, "root_hash": Output.hex(checkpoint.rootHash),
          "signed_note": checkpoint.signedNote, "signature_verified": verifierKey != nil,
        ])
      case .text:
        print(checkpoint.signedNote, terminator: "")
      }
    }
  }

  struct ProveInclusion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "prove-inclusion", abstract: "Fetch and check (locally) the proof that an entry is in the log.")
    @OptionGroup var global: GlobalOptions
    @Argument var index: UInt64
    @Option(help: "Tree size (default: the latest checkpoint).") var treeSize: UInt64 = 0

    func run() async throws {
      let proof = try await DaemonConnection.withAuditLog(global, .read) { client in
        try await client.getInclusionProof(.with { $0.index = index; $0.treeSize = treeSize })
      }
      guard let leaf = SHA256Digest(bytes: [UInt8](proof.leafHash)), let root = SHA256Digest(bytes: [UInt8](proof.rootHash)) else {
        throw CLIError("the daemon returned malformed hashes")
      }
      let hashes = try ProofVerification.digests(proof.hashes.map { [UInt8]($0) })
      let ok = (try? ProofVerification.verifyInclusion(index: index, size: proof.treeSize, leafHash: leaf, proof: hashes, root: root)) != nil
      switch global.output {
      case .json:
        Output.json([
          "index": proof.index, "tree_size": proof.treeSize, "leaf_hash": Output.hex(proof.leafHash),
          "root_hash": Output.hex(proof.rootHash), "hashes": proof.hashes.map(Output.hex), "verified": ok,
        ])
      case .text:
        print("inclusion of \(index) in tree size \(proof.treeSize): \(ok ? "VERIFIED" : "DOES NOT VERIFY")")
        print("root \(Output.hex(proof.rootHash))")
        for hash in proof.hashes { print("  \(Output.hex(hash))") }
      }
      if !ok { throw ExitCode(1) }
    }
  }

  struct ProveConsistency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "prove-consistency", abstract: "Fetch and check (locally) that an older tree is a prefix of a newer one.")
    @OptionGroup var global: GlobalOptions
    @Argument var oldSize: UInt64
    @Argument(help: "New size (default: the latest checkpoint).") var newSize: UInt64 = 0

    func run() async throws {
      let proof = try await DaemonConnection.withAuditLog(global, .read) { client in
        try await client.getConsistencyProof(.with { $0.oldSize = oldSize; $0.newSize = newSize })
      }
      let hashes = try ProofVerification.digests(proof.hashes.map { [UInt8]($0) })
      let ok = (try? ProofVerification.verifyConsistency(
        oldSize: proof.oldSize, newSize: proof.newSize, proof: hashes, oldRoot: [UInt8](proof.oldRootHash),
        newRoot: [UInt8](proof.newRootHash))) != nil
      switch global.output {
      case .json:
        Output.json([
          "old_size": proof.oldSize, "new_size": proof.newSize, "old_root_hash": Output.hex(proof.oldRootHash),
          "new_root_hash": Output.hex(proof.newRootHash), "hashes": proof.hashes.map(Output.hex), "verified": ok,
        ])
      case .text:
        print("consistency \(proof.oldSize) -> \(proof.newSize): \(ok ? "VERIFIED" : "DOES NOT VERIFY")")
        for hash in proof.hashes { print("  \(Output.hex(hash))") }
      }
      if !ok { throw ExitCode(1) }
    }
  }

  struct VerifierKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "verifier-key", abstract: "Print the ledger's checkpoint verifier key, for auditors.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
      let key = try await DaemonConnection.withAuditLog(global, .read) { try await $0.getVerifierKey(.init()) }
      switch global.output {
      case .json: Output.json(["verifier_key": key.verifierKey, "origin": key.origin, "public_key": Output.hex(key.publicKey)])
      case .text: print(key.verifierKey)
      }
    }
  }
}
