import Benchmark
import CustosCrypto
import CustosEvidence
import CustosLedger
import Foundation

// Exporting and verifying a bundle of 1M entries, against raw SHA-256 over the bundle's entries.jsonl
// read the same way: compare the ratio. Peak memory shows whether the work streams. The verifier's parts
// are timed one by one by `swift run -c release EvidenceLoad` (Sources/EvidenceLoad).
func evidenceBenchmarks() {
  let configuration = Benchmark.Configuration(
    metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 0, maxDuration: .seconds(60),
    maxIterations: 3)

  // Export at two sizes: its own (anonymous) memory must not grow with the bundle.
  let anonymousPeak = BenchmarkMetric.custom("Anonymous memory peak (MiB)", polarity: .prefersSmaller, useScalingFactor: false)
  var exportConfiguration = configuration
  exportConfiguration.metrics.append(anonymousPeak)
  for entries in [100_000, 1_000_000] {
    Benchmark("evidence: export \(entries / 1000)k entries to a bundle directory (streamed)", configuration: exportConfiguration) { benchmark in
      let fixture = try Fixture.shared(entries: entries)
      let ledger = try Fixture.proofLedger(fixture)
      let directory = NSTemporaryDirectory() + "custos-bundle-\(UUID().uuidString)"
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let key = fixture.key
      benchmark.startMeasurement()
      let peak = try peakAnonymousMiB {
        try runBlocking { try await EvidenceFiles.export(ledger: ledger, key: key, to: directory) }
      }
      benchmark.stopMeasurement()
      benchmark.measurement(anonymousPeak, peak)
    }
  }

  Benchmark("evidence: verify a 1M-entry bundle offline", configuration: configuration) { benchmark in
    let (directory, key) = try EvidenceFiles.cachedBundle()
    benchmark.startMeasurement()
    let verified = try EvidenceVerifier(verifierKey: key).verify(EvidenceDirectory(path: directory))
    benchmark.stopMeasurement()
    precondition(verified.entries == 1_000_000)
  }

  Benchmark("evidence: raw SHA-256 over the same entries.jsonl, read the same way", configuration: configuration) { benchmark in
    let (directory, _) = try EvidenceFiles.cachedBundle()
    benchmark.startMeasurement()
    var hash = SHA256()
    _ = try EvidenceDirectory(path: directory).stream(EvidenceBundle.entriesFile) { hash.update($0) }
    blackHole(hash.finalize())
    benchmark.stopMeasurement()
  }
}

enum EvidenceFiles {
  static func export(ledger: Ledger, key: Ed25519.PrivateKey, to directory: String) async throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let writer = EvidenceDirectoryWriter(path: directory)
    try await EvidenceExport.stream(
      ledger: ledger, fromTime: 0, toTime: .max, kinds: [], actors: [], exportedBy: "bench", exportedAt: 0,
      sign: { key.signature(for: $0) }, before: { _ in }, write: { name, bytes, _ in try writer.write(name, bytes) })
    try writer.finish()
  }

  /// The 1M-entry bundle, exported once into Benchmarks/.data.
  static func cachedBundle() throws -> (String, String) {
    let fixture = try Fixture.shared(entries: 1_000_000)
    let directory = Fixture.dataDirectory.appendingPathComponent("bundle-1000000").path
    if !FileManager.default.fileExists(atPath: directory + "/manifest.sig") {
      try? FileManager.default.removeItem(atPath: directory)
      let ledger = try Fixture.proofLedger(fixture)
      let key = fixture.key
      try runBlocking { try await export(ledger: ledger, key: key, to: directory) }
    }
    return (directory, fixture.signer.verifier.verifierKey)
  }
}
