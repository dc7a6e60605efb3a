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
  evidenceBenchmarks()

  // MARK: Durable appends: 10,000 entries per iteration. Custos gets them as 10 concurrent callers of
  // 1,000 (group commit merges what arrives together); the raw loops write the same rows in one
  // transaction — SQLite's best case, one fsync — with the same synchronous=FULL.

  let entriesPerIteration = 10_000
  Benchmark("append: Ledger, 10 concurrent callers x 1000 entries, durable") { benchmark in
    let fixture = try Fixture.fresh()
    let ledger = try fixture.ledger()
    let batches = (0..<10).map { b in (0..<1000).map { Fixture.event(b * 1000 + $0) } }
    benchmark.startMeasurement()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for batch in batches { group.addTask { _ = try await ledger.append(batch) } }
      try await group.waitForAll()
    }
    benchmark.stopMeasurement()
  }

  // SQLite's automatic WAL checkpoint runs inside the commit that crosses 1,000 pages; Custos runs its
  // checkpoints beside the writes instead. The second loop is the raw insert without that cost.
  for inlineCheckpoint in [true, false] {
    Benchmark("append: raw SQLite, same rows into the ledger's indexed schema, 1 transaction\(inlineCheckpoint ? "" : ", no checkpoint in the commit")") { benchmark in
      let fixture = try Fixture.fresh()
      _ = fixture.storage
      let rows = (0..<entriesPerIteration).map { i in
        (i, LedgerEntry(index: UInt64(i), time: 1_764_000_000_000_000_000, event: Fixture.event(i), prev: .zero).canonicalBytes, Fixture.event(i))
      }
      var configuration = Fixture.rawConfiguration()
      if !inlineCheckpoint { configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") } }
      let queue = try DatabaseQueue(path: fixture.path, configuration: configuration)
      benchmark.startMeasurement()
      try queue.write { db in
        let insert = try db.cachedStatement(sql: """
          INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome,
            kind_key, actor_key, action_key, resource_key, outcome_key)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """)
        for (i, bytes, event) in rows {
          try insert.execute(arguments: [
            i, Data(bytes), Data(repeating: 0, count: 32), 1_764_000_000_000_000_000, event.kind, event.actor, event.action,
            event.resource, event.outcome, FilterKey.of(event.kind), FilterKey.of(event.actor), FilterKey.of(event.action),
            FilterKey.of(event.resource), FilterKey.of(event.outcome),
          ])
        }
      }
      benchmark.stopMeasurement()
    }
  }

  Benchmark("append: raw SQLite, same bytes into a bare (idx, blob) table, 1 transaction") { benchmark in
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
    try queue.write { db in
      let insert = try db.cachedStatement(sql: "INSERT INTO raw (idx, data) VALUES (?, ?)")
      for (i, bytes) in rows.enumerated() { try insert.execute(arguments: [i, Data(bytes)]) }
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

  // The same hashing with the bytes read from the database as the verifier reads them (SQLite copies
  // every blob it returns): the physical limit of verifying a log stored in SQLite, on one core.
  Benchmark("verify: raw SHA-256 over the same 100k entries read from the database (chunks of 4096)") { benchmark in
    let fixture = try Fixture.shared(entries: verifyEntries)
    benchmark.startMeasurement()
    var cursor: UInt64 = 0
    while cursor < UInt64(verifyEntries) {
      let chunk = try fixture.storage.entryBytes(in: cursor..<min(UInt64(verifyEntries), cursor + 4096))
      for i in 0..<chunk.count { blackHole(chunk.withEntry(i) { SHA256.hash($0) }) }
      cursor += 4096
    }
  }

  // The verifier's parts, to see which one bounds it.
  Benchmark("verify part: storage reads of the same 100k entries (chunks of 8192)") { benchmark in
    let fixture = try Fixture.shared(entries: verifyEntries)
    benchmark.startMeasurement()
    var cursor: UInt64 = 0
    while cursor < UInt64(verifyEntries) {
      blackHole(try fixture.storage.entryBytes(in: cursor..<min(UInt64(verifyEntries), cursor + 8192)))
      cursor += 8192
    }
  }

  Benchmark("verify part: canonical scan of the same 100k entries, one core") { benchmark in
    let fixture = try Fixture.shared(entries: verifyEntries)
    let chunk = try fixture.storage.entryBytes(in: 0..<UInt64(verifyEntries))
    benchmark.startMeasurement()
    for i in 0..<chunk.count { blackHole(chunk.withEntry(i) { CanonicalEntryScanner.scan($0) }) }
  }

  // MARK: Proofs at 1M and 10M entries, in steady state: the first thousand proofs of a process fill
  // SQLite's page cache and map the file's pages (ProofLoad shows the cold start: 3x slower at 10M).

  for size in [1_000_000, 10_000_000] {
    let label = size >= 10_000_000 ? "10M" : "1M"
    Benchmark(
      "proof: inclusion at \(label)",
      configuration: .init(
        metrics: [.wallClock], timeUnits: .microseconds, warmupIterations: 1000, maxDuration: .seconds(5), maxIterations: 2000)
    ) { benchmark in
      let fixture = try Fixture.shared(entries: size)
      var random = SystemRandomNumberGenerator()
      let index = UInt64.random(in: 0..<UInt64(size), using: &random)
      benchmark.startMeasurement()
      blackHole(try Fixture.proofLedger(fixture).inclusionProof(index: index, treeSize: UInt64(size), checkpointSize: UInt64(size)))
    }
    Benchmark(
      "proof: consistency at \(label)",
      configuration: .init(
        metrics: [.wallClock], timeUnits: .microseconds, warmupIterations: 1000, maxDuration: .seconds(5), maxIterations: 2000)
    ) { benchmark in
      let fixture = try Fixture.shared(entries: size)
      var random = SystemRandomNumberGenerator()
      let old = UInt64.random(in: 1..<UInt64(size), using: &random)
      benchmark.startMeasurement()
      blackHole(try Fixture.proofLedger(fixture).consistencyProof(oldSize: old, newSize: UInt64(size), checkpointSize: UInt64(size)))
    }
  }
}
