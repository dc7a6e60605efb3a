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
    let file = directory.appendingPathComponent("custos.backup").path
    // The machine is shared and noisy: each measurement is taken `rounds` times, interleaved, and the
    // medians are compared.
    let rounds = 5
    var copies: [Double] = [], syncedCopies: [Double] = [], backups: [Double] = [], writes: [Double] = []
    var verifies: [Double] = [], restoreChecks: [Double] = []
    var backupBytes = 0
    for _ in 0..<rounds {
      var copied = 0.0
      syncedCopies.append(try await time {
        copied = try await time { try Self.copy(path, to: copy) }
        for name in [copy, copy + "-wal"] where FileManager.default.fileExists(atPath: name) {
          let handle = try FileHandle(forUpdating: URL(fileURLWithPath: name))
          try handle.synchronize()
          try handle.close()
        }
      })
      copies.append(copied)
      try? FileManager.default.removeItem(atPath: copy)
      try? FileManager.default.removeItem(atPath: copy + "-wal")

      try? FileManager.default.removeItem(atPath: file)
      _ = FileManager.default.createFile(atPath: file, contents: nil)
      let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
      var written = 0.0
      backups.append(try await time {
        written = try await time {
          _ = try BackupDump.write(
            storage: store.ledgerStorage, contents: BackupContents(), origin: signer.name, verifierKey: signer.verifier.verifierKey,
            createdAt: 0, sign: { signer.signature(for: $0) }, sink: { try handle.write(contentsOf: $0) })
        }
        try handle.synchronize()
      })
      writes.append(written)
      try handle.close()
      backupBytes = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0

      verifies.append(try await time {
        let report = try LedgerVerifier(storage: store.ledgerStorage, verifier: signer.verifier).verify()
        precondition(report.ok)
      })
      restoreChecks.append(try await time {
        var reader = try BackupReader(path: file)
        _ = try reader.verify(verifierKey: signer.verifier.verifierKey)
      })
    }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    func list(_ values: [Double]) -> String { values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
    print("medians of \(rounds) interleaved rounds (each round's seconds in brackets):")
    print(String(format: "cp of the database (%.0f MiB): %.2f s [%@]; cp, then fsync of the copy: %.2f s [%@]",
      Double(bytes) / 1_048_576, median(copies), list(copies), median(syncedCopies), list(syncedCopies)))
    print(String(format: "backup to a file (%.0f MiB), fsync included: %.2f s [%@]; written before the fsync: %.2f s [%@]",
      Double(backupBytes) / 1_048_576, median(backups), list(backups), median(writes), list(writes)))
    print(String(format: "backup / cp ratio, both synced (cp+fsync time / backup time): %.2f (goal >= 0.5)", median(syncedCopies) / median(backups)))
    print(String(format: "backup / cp ratio, neither synced (cp time / backup time before its fsync): %.2f", median(copies) / median(writes)))
    print(String(format: "custos ledger verify: %.2f s [%@]; restore verification of the backup: %.2f s [%@]",
      median(verifies), list(verifies), median(restoreChecks), list(restoreChecks)))
    print(String(format: "restore verification / ledger verify ratio (verify time / restore check time): %.2f (goal >= 0.8)",
      median(verifies) / median(restoreChecks)))
  }

  /// `cp SOURCE DESTINATION`, with the WAL beside it if there is one.
  static func copy(_ source: String, to destination: String) throws {
    for (from, to) in [(source, destination), (source + "-wal", destination + "-wal")] where FileManager.default.fileExists(atPath: from) {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/bin/cp")
      process.arguments = [from, to]
      try process.run()
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        throw NSError(domain: "BackupLoad", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "cp \(from) \(to) failed"])
      }
    }
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
