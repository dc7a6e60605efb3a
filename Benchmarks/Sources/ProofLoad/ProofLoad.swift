import CustosCrypto
import CustosLedger
import CustosStore
import Foundation
import LoadTiming

/// Times inclusion and consistency proofs at random indexes of a benchmark ledger (the fixtures
/// `LedgerBenchmarks` keeps in Benchmarks/.data), outside the harness, and prints percentiles.
///
///   swift run -c release ProofLoad .data/ledger-10000000.sqlite [proofs]
@main
struct ProofLoad {
  static func main() throws {
    let path = CommandLine.arguments[1]
    let count = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 2000
    let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".key")))
    let key = try Ed25519.PrivateKey(rawRepresentation: SecretBytes(copying: seed))
    let storage = try SQLiteStore(path: path).ledgerStorage
    let ledger = try Ledger(storage: storage, signer: NoteSigner(name: "custos.bench/ledger", privateKey: key))
    let size = try storage.latestCheckpoint()!.checkpoint.size
    var random = SystemRandomNumberGenerator()
    func percentiles(_ label: String, _ body: () throws -> Void) rethrows {
      var times: [Double] = []
      for _ in 0..<count {
        let start = ContinuousClock.now
        try body()
        times.append(milliseconds(ContinuousClock.now - start) * 1000)
      }
      times.sort()
      let p = { (q: Double) in String(format: "%.0f", times[min(times.count - 1, Int(q * Double(times.count)))]) }
      print("\(label) at \(size): p25 \(p(0.25)) µs, p50 \(p(0.5)) µs, p75 \(p(0.75)) µs, p90 \(p(0.9)) µs")
    }
    try percentiles("inclusion") {
      _ = try ledger.inclusionProof(index: UInt64.random(in: 0..<size, using: &random), treeSize: size, checkpointSize: size)
    }
    try percentiles("consistency") {
      _ = try ledger.consistencyProof(oldSize: UInt64.random(in: 1..<size, using: &random), newSize: size, checkpointSize: size)
    }
  }
}
