import CustosBackup
import CustosLedger
import CustosProtocol
import Dispatch
import Foundation
import GRPCCore
import Synchronization

/// Online backups: the deployment written as a custos-backup/v1 stream while the daemon serves, the
/// log up to its tip at the start; recorded (`operator.backup`) before the first byte leaves.
struct BackupService: Sendable {
  let ledger: Ledger
  /// The deployment's state beside the log, read from the stores.
  let contents: @Sendable () throws -> BackupContents
  /// With witnesses, the newest checkpoint they cosigned and the cosignatures: the backup ends there.
  var cosigned: @Sendable () -> (size: UInt64, cosignatures: [String])? = { nil }

  /// Streams a backup to `write` in chunks of about a MiB; the producer waits while four chunks are
  /// unsent, so a slow reader never makes the daemon hold the database in memory.
  func stream(caller: String, write: @escaping @Sendable ([UInt8]) async throws -> Void) async throws -> BackupManifest {
    let signer = try await ledger.activeSigner()
    guard let verifier = ledger.verifier else { throw LedgerError.unavailable("the ledger has no key yet") }
    _ = try await ledger.append(LedgerEvent(
      kind: "operator.backup", actor: caller, action: "operator.backup", resource: "custos/ledger", outcome: "ok",
      details: ["size_at_start": .integer(Int64(try await ledger.freshestCheckpointSize()))]))
    let (chunks, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
    let window = DispatchSemaphore(value: 4)
    let stop = StopFlag()
    let storage = ledger.storage, contents = self.contents
    async let manifest = BlockingWork.run { () throws -> BackupManifest in
      defer { continuation.finish() }
      return try BackupDump.write(
        storage: storage, contents: try contents(), origin: verifier.name, verifierKey: verifier.verifierKey,
        createdAt: wallClockNanoseconds(), sign: { signer.signature(for: $0) },
        sink: { chunk in
          window.wait()
          guard !stop.isSet else { throw CancellationError() }
          continuation.yield(chunk)
        }, upTo: cosigned())
    }
    do {
      for await chunk in chunks {
        try await write(chunk)
        window.signal()
      }
    } catch {
      // The reader is gone: the producer stops at its next chunk instead of waiting for it forever.
      stop.set()
      window.signal()
      _ = try? await manifest
      throw error
    }
    return try await manifest
  }
}

/// Set once, read from any thread.
private final class StopFlag: Sendable {
  private let flag = Mutex(false)
  var isSet: Bool { flag.withLock { $0 } }
  func set() { flag.withLock { $0 = true } }
}
