import CustosBackup
import CustosCrypto
import CustosJSON
import CustosLedger
import CustosStore
import Foundation

/// Backup and restore verification of a large ledger against their physical limits on this machine,
/// in one run: `cp` of the same database file, and `custos ledger verify` (LedgerVerifier) on the same
/// data.
///
///   swift run -c release BackupLoad [entries]
@main
struct BackupLoad {
  static func main() async throws {
    let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1_000_000 : 1_000_000
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-backupload-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("custos.sqlite").path
    let signer = NoteSigner(name: "custos.bench/ledger", privateKey: Ed25519.PrivateKey())

    let filled = try await time {
      let ledger = try Ledger(storage: try SQLiteStore(path: path).ledgerStorage, signer: signer)
      var n = 0
      while n < count {
        let size = min(4096, count - n)
        _ = try await ledger.append((n..<(n + size)).map(Self.event))
        n += size
      }
    }
    print(String(format: "filled %d entries in %.1f s", count, filled))
    let store = try SQLiteStore(path: path)
    let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0)
      + ((try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0)

    let copy = directory.appendingPathComponent("copy.sqlite").path
    let copied = try await time {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/bin/cp")
      process.arguments = [path, copy]
      try process.run()
      process.waitUntilExit()
      if FileManager.default.fileExists(atPath: path + "-wal") {
        try? FileManager.default.removeItem(atPath: copy + "-wal")
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")
      }
    }
    let file = directory.appendingPathComponent("custos.backup").path
    _ = FileManager.default.createFile(atPath: file, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
    var written = 0.0
    let backedUp = try await time {
      written = try await time {
        _ = try BackupDump.write(
          storage: store.ledgerStorage, contents: BackupContents(), origin: signer.name, verifierKey: signer.verifier.verifierKey,
          createdAt: 0, sign: { signer.signature(for: $0) }, sink: { try handle.write(contentsOf: $0) })
      }
      try handle.synchronize()
    }
    try handle.close()
    let backupBytes = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0
    print(String(format: "cp of the database (%.0f MiB): %.2f s", Double(bytes) / 1_048_576, copied))
    print(String(format: "backup to a file (%.0f MiB): %.2f s (written %.2f s, then fsync %.2f s)", Double(backupBytes) / 1_048_576, backedUp, written, backedUp - written))
    print(String(format: "backup / cp ratio (cp time / backup time): %.2f (goal >= 0.5)", copied / backedUp))

    let verify = try await time {
      let report = try LedgerVerifier(storage: store.ledgerStorage, verifier: signer.verifier).verify()
      precondition(report.ok)
    }
    let restoreCheck = try await time {
      var reader = try BackupReader(path: file)
      _ = try reader.verify(verifierKey: signer.verifier.verifierKey)
    }
    print(String(format: "custos ledger verify: %.2f s; restore verification of the backup: %.2f s", verify, restoreCheck))
    print(String(format: "restore verification / ledger verify ratio (verify time / restore check time): %.2f (goal >= 0.8)", verify / restoreCheck))
  }

  static func event(_ i: Int) -> LedgerEvent {
    let details: [String: JSONValue] = ["amount_cents": .integer(Int64(i % 100_000)), "hour": .integer(Int64(i % 24))]
    let outcome = i % 7 == 0 ? "deny" : "allow"
    return LedgerEvent(
      kind: "authz.decision", actor: "Service::\"billing-worker\"", action: "Action::\"refund\"", resource: "Invoice::\"inv-\(i)\"",
      outcome: outcome, details: details)
  }

  @MainActor static func time(_ body: () async throws -> Void) async throws -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  }
}
