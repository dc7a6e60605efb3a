import Benchmark
import CustosCrypto
import CustosLedger
import CustosStore
import Foundation
import GRDB

// Each pair measures Custos and its physical peer in the same run; compare their ratio.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .peakMemoryResident], timeUnits: .microseconds,
    warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 20)

  // MARK: Durable appends: 10 group commits of 1,000 entries, against 10 raw SQLite transactions of the same bytes.

  let entriesPerIteration = 10_000
  Benchmark("append: Ledger, 10 batches x 1000 entries, durable") { benchmark in
    let fixture = try Fixture.fresh()
    let ledger = try fixture.ledger()
    let batches = (0..<10).map { b in (0..<1000).map { Fixture.event(b * 1000 + $0) } }
    benchmark.startMeasurement()
    for batch in batches { _ = try await ledger.append(batch) }
    benchmark.stopMeasurement()
  }

  Benchmark("append: raw SQLite insert loop, 10 transactions x 1000 rows, synchronous=FULL") { benchmark in
    let fixture = try Fixture.fresh()
    let rows = (0..<entriesPerIteration).map { i in
      LedgerEntry(index: UInt64(i), time: 1_764_000_000_000_000_000, event: Fixture.event(i), prev: .zero).canonicalBytes
    }
    let queue = try DatabaseQueue(path: fixture.path + ".raw", configuration: Fixture.rawConfiguration())
    try queue.writeWithoutTransaction { db in
      try db.execute(sql: "PRAGMA journal_mode = WAL")
      try db.execute(sql: "CREATE TABLE raw (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    }
    benchmark.startMeasurement()
    for chunk in stride(from: 0, to: rows.count, by: 1000) {
      try queue.write { db in
        let insert = try db.cachedStatement(sql: "INSERT INTO raw (idx, data) VALUES (?, ?)")
        for i in chunk..<chunk + 1000 { try insert.execute(arguments: [i, Data(rows[i])]) }
      }
    }
    benchmark.stopMeasurement()
  }

  // MARK: Full verification against raw SHA-256 over the same bytes.

  let verifyEntries = 100_000
  Benchmark("verify: LedgerVerifier over 100k entries") { benchmark in
    let fixture = try Fixture.shared(entries: verifyEntries)
    let verifier = LedgerVerifier(storage: fixture.storage, verifier: fixture.signer.verifier)
    benchmark.startMeasurement()
    let report = try verifier.verify()
    benchmark.stopMeasurement()
    precondition(report.ok && report.checked == UInt64(verifyEntries))
  }

  Benchmark("verify: raw SHA-256 over the same 100k entries' bytes") { benchmark in
    let fixture = try Fixture.shared(entries: verifyEntries)
    var bytes: [[UInt8]] = []
    try fixture.storage.forEachEntry(in: 0..<UInt64(verifyEntries)) { bytes.append($0.canonical); return true }
    benchmark.startMeasurement()
    for entry in bytes { blackHole(SHA256.hash(entry)) }
    benchmark.stopMeasurement()
  }

  // MARK: Proofs at 1M and 10M entries.

  for size in [1_000_000, 10_000_000] {
    let label = size >= 10_000_000 ? "10M" : "1M"
    Benchmark(
      "proof: inclusion at \(label)",
      configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(3), maxIterations: 2000)
    ) { benchmark in
      let fixture = try Fixture.shared(entries: size)
      var random = SystemRandomNumberGenerator()
      let index = UInt64.random(in: 0..<UInt64(size), using: &random)
      benchmark.startMeasurement()
      blackHole(try Fixture.proofLedger(fixture).inclusionProof(index: index, treeSize: UInt64(size), checkpointSize: UInt64(size)))
    }
    Benchmark(
      "proof: consistency at \(label)",
      configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(3), maxIterations: 2000)
    ) { benchmark in
      let fixture = try Fixture.shared(entries: size)
      var random = SystemRandomNumberGenerator()
      let old = UInt64.random(in: 1..<UInt64(size), using: &random)
      benchmark.startMeasurement()
      blackHole(try Fixture.proofLedger(fixture).consistencyProof(oldSize: old, newSize: UInt64(size), checkpointSize: UInt64(size)))
    }
  }
}
