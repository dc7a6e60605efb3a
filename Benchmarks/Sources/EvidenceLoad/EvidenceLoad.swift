import CustosCrypto
import CustosEvidence
import CustosLedger
import Foundation

/// Times offline verification of a bundle directory against raw SHA-256 over its entries.jsonl, and
/// the verifier's parts, outside the benchmark harness (no malloc interposer), best of five runs each.
///
///   swift run -c release EvidenceLoad BUNDLE_DIR
@main
struct EvidenceLoad {
  static func main() throws {
    let directory = CommandLine.arguments[1]
    let manifest = try EvidenceManifest(decoding: [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))))
    let source = EvidenceDirectory(path: directory)
    func best(_ label: String, _ body: () throws -> Void) rethrows -> Double {
      var times: [Double] = []
      for _ in 0..<5 {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
      }
      let value = times.min()!
      print("\(label): \(String(format: "%.1f", value)) ms")
      return value
    }
    func eachLine(_ body: (UnsafeRawBufferPointer) -> Void) throws {
      _ = try source.stream(EvidenceBundle.entriesFile) { chunk in
        var start = 0
        while let newline = CanonicalEntryScanner.nextNewline(in: chunk, from: start) {
          body(UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
          start = newline + 1
        }
      }
    }
    let raw = try best("raw SHA-256 of entries.jsonl") {
      var hash = SHA256()
      _ = try source.stream(EvidenceBundle.entriesFile) { hash.update($0) }
      _ = hash.finalize()
    }
    // How far two cores scale on this machine for the plainest parallel work: each hashes every other
    // 4 MiB chunk (two independent SHA-256 streams).
    _ = try best("reading the file whole + two independent SHA-256 streams on two threads") {
      let whole = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + EvidenceBundle.entriesFile))
      let start = ContinuousClock.now
      whole.withUnsafeBytes { bytes in
        let shared = SendableBytes(bytes: bytes)
        DispatchQueue.concurrentPerform(iterations: 2) { lane in
          var hash = SHA256()
          var offset = lane * (4 << 20)
          while offset < shared.bytes.count {
            hash.update(UnsafeRawBufferPointer(rebasing: shared.bytes[offset..<min(shared.bytes.count, offset + (4 << 20))]))
            offset += 8 << 20
          }
          _ = hash.finalize()
        }
      }
      let elapsed = ContinuousClock.now - start
      print("  (two streams, in memory: \(elapsed))")
    }
    _ = try best("reading the file whole + one SHA-256 stream") {
      let whole = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + EvidenceBundle.entriesFile))
      let start = ContinuousClock.now
      var hash = SHA256()
      whole.withUnsafeBytes { hash.update($0) }
      _ = hash.finalize()
      print("  (one stream, in memory: \(ContinuousClock.now - start))")
    }
    _ = try best("part: reading alone") { _ = try source.stream(EvidenceBundle.entriesFile) { _ in } }
    _ = try best("part: splitting lines") { try eachLine { _ in } }
    _ = try best("part: canonical scan, one core") { try eachLine { _ = CanonicalEntryScanner.scan($0) } }
    _ = try best("part: leaf hashes, one core") { try eachLine { _ = MerkleHashing.leafHash($0) } }
    for slices in [2, 4, 8, 16] {
      _ = try best("parallel scan and leaf hashes, \(slices) slices, no file hash") {
        var carry = 0
        _ = try source.stream(EvidenceBundle.entriesFile) { chunk in
          let (parts, consumed) = CanonicalEntryScanner.scanAndHashLines(
            in: UnsafeRawBufferPointer(rebasing: chunk[carry...]), slices: slices)
          _ = parts
          carry = 0
          _ = consumed
        }
      }
    }
    let verify = try best("verify \(manifest.lastIndex - manifest.firstIndex + 1) entries") {
      _ = try EvidenceVerifier(verifierKey: manifest.verifierKey).verify(source)
    }
    print("ratio (raw / verify): \(String(format: "%.2f", raw / verify))")
  }
}

/// Bytes both lanes read and neither writes.
struct SendableBytes: @unchecked Sendable {
  // @unchecked Sendable: read-only while `concurrentPerform` runs; the owner outlives it.
  let bytes: UnsafeRawBufferPointer
}
