import CustosCrypto
import CustosLedger
import Foundation

/// A transparency-log witness (C2SP tlog-witness): for each log it knows (origin → verifier key) it
/// keeps the latest checkpoint it cosigned, in a 0600 state file written before it answers, and cosigns
/// a new checkpoint only if the log's key signed it and a consistency proof from that one holds. A
/// rollback (an older size) or a fork (the same size, another root) gets 409 and the size it holds.
actor Witness {
  struct Answer: Sendable, Equatable {
    let status: Int
    let contentType: String
    let body: String
  }

  struct LogState: Codable, Sendable {
    var size: UInt64
    var rootHash: String
    var checkpoint: String
  }

  let name: String
  private let key: Ed25519.PrivateKey
  private let logs: [String: NoteVerifier]
  private let statePath: String
  private var state: [String: LogState]

  init(name: String, key: Ed25519.PrivateKey, logs: [NoteVerifier], statePath: String) throws {
    self.name = name
    self.key = key
    self.logs = Dictionary(logs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    self.statePath = statePath
    if let data = FileManager.default.contents(atPath: statePath) {
      state = try JSONDecoder().decode([String: LogState].self, from: data)
    } else {
      state = [:]
    }
  }

  var cosigner: CosignerKey { CosignerKey(name: name, publicKey: key.publicKey) }

  /// The latest cosigned checkpoint's size for `origin` (0 if none).
  func size(of origin: String) -> UInt64 { state[origin]?.size ?? 0 }

  /// Handles an add-checkpoint request body. Checking the old size and storing the new checkpoint
  /// happen in one actor turn, so two requests cannot roll each other back.
  func addCheckpoint(_ request: [UInt8]) -> Answer {
    let text = String(decoding: request, as: UTF8.self)
    guard let blank = text.range(of: "\n\n") else { return Self.bad("expected an old size line, proof lines, an empty line and a checkpoint") }
    var head = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
    let note = String(text[blank.upperBound...])
    guard let first = head.first, first.hasPrefix("old "), let old = UInt64(first.dropFirst(4)),
      String(old) == first.dropFirst(4)
    else { return Self.bad("the first line must be \"old <size>\"") }
    head.removeFirst()
    guard head.count <= 63 else { return Self.bad("more than 63 consistency proof lines") }
    var proof: [SHA256Digest] = []
    for line in head {
      guard let bytes = Base64.decode(line), let digest = SHA256Digest(bytes: bytes) else { return Self.bad("a proof line is not a base64 SHA-256 hash") }
      proof.append(digest)
    }
    guard let origin = note.split(separator: "\n", maxSplits: 1).first.map(String.init), let verifier = logs[origin] else {
      return Answer(status: 404, contentType: "text/plain; charset=utf-8", body: "unknown log\n")
    }
    let checkpoint: SignedCheckpoint
    do { checkpoint = try SignedCheckpoint(note: note, verifier: verifier) } catch {
      return Answer(status: 403, contentType: "text/plain; charset=utf-8", body: "the checkpoint is not signed by the log's key\n")
    }
    let size = checkpoint.checkpoint.size
    guard old <= size else { return Self.bad("the old size is larger than the checkpoint's") }
    let held = state[origin]
    guard old == held?.size ?? 0 else { return Self.conflict(held?.size ?? 0) }
    if let held, old == size {
      guard held.rootHash == Base64.encode(checkpoint.checkpoint.rootHash.bytes) else { return Self.conflict(held.size) }
    } else if let held, old > 0 {
      guard let oldRoot = Base64.decode(held.rootHash) else { return Self.conflict(held.size) }
      do {
        try ProofVerification.verifyConsistency(
          oldSize: old, newSize: size, proof: proof, oldRoot: oldRoot, newRoot: checkpoint.checkpoint.rootHash.bytes)
      } catch {
        return Answer(status: 422, contentType: "text/plain; charset=utf-8", body: "the consistency proof does not verify\n")
      }
    } else if !proof.isEmpty {
      return Answer(status: 422, contentType: "text/plain; charset=utf-8", body: "the proof must be empty from size 0\n")
    }
    var next = state
    next[origin] = LogState(size: size, rootHash: Base64.encode(checkpoint.checkpoint.rootHash.bytes), checkpoint: note)
    do { try Self.persist(next, to: statePath) } catch {
      return Answer(status: 500, contentType: "text/plain; charset=utf-8", body: "cannot persist the witness state\n")
    }
    state = next
    let timestamp = UInt64(max(0, Date().timeIntervalSince1970))
    return Answer(
      status: 200, contentType: "text/plain; charset=utf-8",
      body: Cosignature.line(body: checkpoint.checkpoint.body, timestamp: timestamp, name: name, key: key))
  }

  private static func bad(_ why: String) -> Answer {
    Answer(status: 400, contentType: "text/plain; charset=utf-8", body: why + "\n")
  }

  private static func conflict(_ size: UInt64) -> Answer {
    Answer(status: 409, contentType: "text/x.tlog.size", body: "\(size)\n")
  }

  /// Written to a temporary file, synced, renamed over the state file: a crash leaves the old or the new.
  static func persist(_ state: [String: LogState], to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(state)
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw Daemon.StartupFailure(description: "cannot write \(temporary)") }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == data.count, synced, rename(temporary, path) == 0 else { throw Daemon.StartupFailure(description: "cannot write \(path)") }
  }
}
