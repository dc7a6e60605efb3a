import CustosCrypto
import CustosLedger
import CustosStore
import Foundation
import LoadTiming

/// Times full verification of a benchmark ledger (the fixtures `LedgerBenchmarks` keeps in
/// Benchmarks/.data) and its parts against raw SHA-256 over the same entries, outside the harness, best
/// of five runs each.
///
///   swift run -c release VerifyLoad .data/ledger-100000.sqlite [--profile]
@main
struct VerifyLoad {
  static func main() throws {
    let path = CommandLine.arguments[1]
    let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".key")))
    let key = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: seed))
    let storage = try SQLiteStore(path: path).ledgerStorage
    let verifier = LedgerVerifier(storage: storage, verifier: NoteSigner(name: "custos.bench/ledger", privateKey: key).verifier)
    let size = try storage.latestCheckpoint()!.checkpoint.size
    if CommandLine.arguments.dropFirst(2).first == "--profile" {
      for _ in 0..<20 { let ok = try verifier.verify().ok; precondition(ok) }
      return
    }
    let whole = try storage.entryBytes(in: 0..<size)
    let raw = bestOfFive("raw SHA-256 over each of the \(size) entries' bytes") {
      for i in 0..<whole.count { _ = whole.withEntry(i) { SHA256.hash($0) } }
    }
    _ = try bestOfFive("part: storage reads, chunks of 4096") {
      var lower: UInt64 = 0
      while lower < size {
        _ = try storage.entryBytes(in: lower..<min(size, lower + 4096))
        lower += 4096
      }
    }
    _ = bestOfFive("part: canonical scan") { for i in 0..<whole.count { _ = whole.withEntry(i) { CanonicalEntryScanner.scan($0) } } }
    _ = bestOfFive("part: leaf hashes and the tree over them") {
      var range = CompactRange()
      for i in 0..<whole.count { range.append(leaf: whole.withEntry(i) { MerkleHashing.leafHash($0) }) }
      _ = range.rootHash
    }
    let verified = try bestOfFive("verify") { let ok = try verifier.verify().ok; precondition(ok) }
    print("ratio (raw / verify): \(String(format: "%.2f", raw / verified))")
    // The bound a cheaper store could reach: the same verification with every chunk already read.
    let preread = try PrereadStorage(storage, size: size)
    let unbound = LedgerVerifier(storage: preread, verifier: verifier.verifier)
    let free = try bestOfFive("verify with the entries already read (reads cost nothing)") { let ok = try unbound.verify().ok; precondition(ok) }
    print("ratio with free reads: \(String(format: "%.2f", raw / free))")
  }
}

/// The storage with every 4,096-entry chunk read in advance: what verification costs when reading does not.
final class PrereadStorage: LedgerStorage {
  let base: SQLiteLedgerStorage
  let chunks: [UInt64: EntryBytesChunk]

  init(_ base: SQLiteLedgerStorage, size: UInt64) throws {
    self.base = base
    var chunks: [UInt64: EntryBytesChunk] = [:]
    var lower: UInt64 = 0
    while lower < size {
      chunks[lower] = try base.entryBytes(in: lower..<min(size, lower + 4096))
      lower += 4096
    }
    self.chunks = chunks
  }

  func entryBytes(in range: Range<UInt64>) throws -> EntryBytesChunk {
    if let chunk = chunks[range.lowerBound], chunk.count == range.count { return chunk }
    return try base.entryBytes(in: range)
  }
  func appendBatch(
    claiming claims: [IdempotencyKey], _ build: (LedgerTip?, [IdempotencyKey: IdempotencyRecord]) throws -> LedgerBatch?
  ) throws -> LedgerBatch? { try base.appendBatch(claiming: claims, build) }
  func idempotencyRecords(_ keys: [IdempotencyKey]) throws -> [IdempotencyKey: IdempotencyRecord] { try base.idempotencyRecords(keys) }
  func pruneIdempotencyRecords(expiredBy time: Int64) throws -> Int { try base.pruneIdempotencyRecords(expiredBy: time) }
  func tip() throws -> LedgerTip? { try base.tip() }
  func latestCheckpoint() throws -> SignedCheckpoint? { try base.latestCheckpoint() }
  func checkpoints(sizes: ClosedRange<UInt64>) throws -> [SignedCheckpoint] { try base.checkpoints(sizes: sizes) }
  func nodeHashes(_ ids: [NodeID]) throws -> [NodeID: SHA256Digest] { try base.nodeHashes(ids) }
  func forEachEntry(in range: Range<UInt64>, _ body: (StoredEntry) throws -> Bool) throws { try base.forEachEntry(in: range, body) }
  func query(_ query: LedgerQuery) throws -> [StoredEntry] { try base.query(query) }
  func firstIndex(atOrAfter time: Int64) throws -> UInt64 { try base.firstIndex(atOrAfter: time) }
}
