import CustosCrypto
import CustosLedger
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A witness the daemon sends its checkpoints to: where (`POST <url>/add-checkpoint`) and its key.
public struct WitnessEndpoint: Sendable, Equatable {
  public var url: String
  public var key: CosignerKey

  /// `URL VKEY`.
  public init(parsing text: String) throws(Configuration.Invalid) {
    let parts = text.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].hasPrefix("http://") || parts[0].hasPrefix("https://") else {
      throw Configuration.Invalid("a witness is \"URL VKEY\" (http(s)://host:port and the witness's vkey)")
    }
    url = String(parts[0])
    do { key = try CosignerKey(vkey: String(parts[1])) } catch { throw Configuration.Invalid("witness key: \(error)") }
  }
}

/// The cosignatures the witnesses gave, by checkpoint size, served with `GetCheckpoint`: the newest in
/// memory, every one kept in the store (so a restarted node has them again).
final class WitnessCosignatures: Sendable {
  private let lines = Mutex<[UInt64: [String: String]]>([:])
  private let store: (any CosignatureStore)?

  /// Loads the newest stored cosignatures.
  init(store: (any CosignatureStore)? = nil) throws {
    self.store = store
    for (size, witness, line) in try store?.recentCosignatures(sizes: 64) ?? [] {
      lines.withLock { $0[size, default: [:]][witness] = line }
    }
  }

  /// The cosignature lines (each ending in a newline) held for the checkpoint of `size`.
  func lines(for size: UInt64) -> [String] {
    lines.withLock { $0[size].map { Array($0.values).sorted() } ?? [] }
  }

  /// The newest checkpoint size at least `quorum` of the witnesses named in `witnesses` cosigned, with
  /// those witnesses' cosignature lines. Cosignatures kept from witnesses no longer configured do not count.
  func newest(quorum: Int, among witnesses: Set<String>) -> (size: UInt64, cosignatures: [String])? {
    lines.withLock { held in
      held.compactMap { size, byWitness -> (UInt64, [String])? in
        let counted = byWitness.filter { witnesses.contains($0.key) }
        return counted.count >= max(1, quorum) ? (size, counted.values.sorted()) : nil
      }.max { $0.0 < $1.0 }
    }
  }

  /// Keeps a verified cosignature: stored first (a failure is reported; memory still serves it).
  func record(size: UInt64, witness: String, line: String) throws {
    defer { remember(size: size, witness: witness, line: line) }
    try store?.saveCosignature(size: size, witness: witness, line: line)
  }

  private func remember(size: UInt64, witness: String, line: String) {
    lines.withLock { held in
      held[size, default: [:]][witness] = line
      // Only recent sizes are asked for; keep the newest few.
      if held.count > 64, let oldest = held.keys.min() { held[oldest] = nil }
    }
  }
}

/// Sends each new checkpoint to the witnesses after it is durable and keeps their cosignatures.
/// Decisions never wait for it; a witness that is down is tried again on the next round.
struct WitnessPublisher: Service {
  let ledger: Ledger
  let witnesses: [WitnessEndpoint]
  let cosignatures: WitnessCosignatures
  let logger: Logger
  /// Counts and sizes per witness for /metrics.
  var report: @Sendable (_ witness: String, _ cosignedSize: UInt64?, _ failed: Bool) -> Void = { _, _, _ in }
  var interval: Duration = .milliseconds(200)

  func run() async throws {
    var cosigned = Array(repeating: UInt64(0), count: witnesses.count)
    var held = Array(repeating: UInt64(0), count: witnesses.count)
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      if let checkpoint = try? await ledger.freshestCheckpoint() {
        for (i, witness) in witnesses.enumerated() where cosigned[i] < checkpoint.checkpoint.size {
          switch await Self.submit(checkpoint, old: held[i], to: witness, ledger: ledger) {
          case let .cosigned(line):
            do {
              let cosignatures = self.cosignatures, size = checkpoint.checkpoint.size, name = witness.key.name
              try await BlockingWork.run { try cosignatures.record(size: size, witness: name, line: line) }
            } catch {
              logger.error("cannot store a witness cosignature; it is served from memory", metadata: ["error": "\(error)"])
            }
            cosigned[i] = checkpoint.checkpoint.size
            held[i] = checkpoint.checkpoint.size
            report(witness.key.name, cosigned[i], false)
          case let .holds(size):
            if size > checkpoint.checkpoint.size {
              logger.critical("a witness holds a newer checkpoint than this log: rolled back?", metadata: [
                "witness": "\(witness.key.name)", "witness_size": "\(size)", "log_size": "\(checkpoint.checkpoint.size)"])
            }
            held[i] = size
          case let .failed(why):
            report(witness.key.name, nil, true)
            logger.warning("a witness did not cosign; trying again", metadata: ["witness": "\(witness.key.name)", "error": "\(why)"])
          }
        }
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }

  enum Outcome: Sendable, Equatable {
    /// The witness's verified cosignature line.
    case cosigned(String)
    /// 409: the size of the latest checkpoint the witness cosigned.
    case holds(UInt64)
    case failed(String)
  }

  /// One add-checkpoint request: `old` is the size the witness is believed to hold.
  static func submit(_ checkpoint: SignedCheckpoint, old: UInt64, to witness: WitnessEndpoint, ledger: Ledger) async -> Outcome {
    let size = checkpoint.checkpoint.size
    var body = "old \(old)\n"
    if old > 0 && old < size {
      guard let proof = try? await ledger.consistencyProof(oldSize: old, newSize: size, checkpointSize: size) else {
        return .failed("no consistency proof from \(old) to \(size)")
      }
      for hash in proof.hashes { body += Base64.encode(hash.bytes) + "\n" }
    }
    body += "\n" + checkpoint.note
    guard let url = URL(string: witness.url.hasSuffix("/") ? witness.url + "add-checkpoint" : witness.url + "/add-checkpoint") else {
      return .failed("bad URL \(witness.url)")
    }
    var request = URLRequest(url: url, timeoutInterval: 5)
    request.httpMethod = "POST"
    request.httpBody = Data(body.utf8)
    do {
      let (data, response) = try await URLSession.shared.data(for: request)
      let status = (response as? HTTPURLResponse)?.statusCode ?? 0
      let text = String(decoding: data, as: UTF8.self)
      switch status {
      case 200:
        let lines = text.split(separator: "\n")
        guard Cosignature.verified(lines: lines, body: checkpoint.checkpoint.body, cosigner: witness.key) != nil,
          let line = lines.first(where: { Cosignature.verified(lines: [$0], body: checkpoint.checkpoint.body, cosigner: witness.key) != nil })
        else { return .failed("no valid cosignature by \(witness.key.name) in the answer") }
        return .cosigned(String(line) + "\n")
      case 409:
        guard let held = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return .failed("409 without a size") }
        return .holds(held)
      default:
        return .failed("HTTP \(status): \(text.prefix(200))")
      }
    } catch {
      return .failed("\(error)")
    }
  }
}
