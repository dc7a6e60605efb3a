import CustosCrypto
import CustosEvidence
import CustosLedger
import Foundation
import LoadTiming

/// Times offline verification of a bundle directory against raw SHA-256 over its entries.jsonl, and
/// the verifier's parts, outside the benchmark harness (no malloc interposer), best of five runs each.
///
///   swift run -c release EvidenceLoad BUNDLE_DIR            parts, verification and the ratio
///   swift run -c release EvidenceLoad BUNDLE_DIR --profile  verification only, ten times (for perf)
@main
struct EvidenceLoad {
  static func main() throws {
    let directory = CommandLine.arguments[1]
    let manifest = try EvidenceManifest(decoding: [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))))
    let source = EvidenceDirectory(path: directory)
    func verify() throws { _ = try EvidenceVerifier(verifierKey: manifest.verifierKey).verify(source) }
    if CommandLine.arguments.dropFirst(2).first == "--profile" {
      for _ in 0..<10 { try verify() }
      return
    }
    let raw = try bestOfFive("raw SHA-256 of entries.jsonl") {
      var hash = SHA256()
      _ = try source.stream(EvidenceBundle.entriesFile) { hash.update($0) }
      _ = hash.finalize()
    }
    // The parts, one core each, on the file held in memory.
    let whole = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + EvidenceBundle.entriesFile))
    whole.withUnsafeBytes { all in
      func eachLine(_ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while let newline = CanonicalEntryScanner.nextNewline(in: all, from: start) {
          body(UnsafeRawBufferPointer(rebasing: all[start..<newline]))
          start = newline + 1
        }
      }
      _ = bestOfFive("part, in memory: SHA-256 of the file") {
        var hash = SHA256()
        hash.update(all)
        _ = hash.finalize()
      }
      _ = bestOfFive("part, in memory: splitting lines") { eachLine { _ in } }
      _ = bestOfFive("part, in memory: canonical scan") { eachLine { _ = CanonicalEntryScanner.scan($0) } }
      _ = bestOfFive("part, in memory: leaf hashes") { eachLine { _ = MerkleHashing.leafHash($0) } }
      _ = bestOfFive("in memory: scan, leaf-hash and link on every core, no file hash") {
        var offset = 0
        while offset < all.count {
          let (_, consumed) = CanonicalEntryScanner.linkLines(
            in: UnsafeRawBufferPointer(rebasing: all[offset..<min(all.count, offset + EvidenceDirectory.chunkBytes)]), slices: 32)
          offset += consumed
        }
      }
    }
    _ = try bestOfFive("part: reading the file in chunks") { _ = try source.stream(EvidenceBundle.entriesFile) { _ in } }
    let verified = try bestOfFive("verify \(manifest.lastIndex - manifest.firstIndex + 1) entries") { try verify() }
    print("ratio (raw / verify): \(String(format: "%.2f", raw / verified))")
  }
}
