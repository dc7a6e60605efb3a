import CustosCrypto
import CustosJSON
import Testing

@testable import CustosLedger

/// The fast scanner must accept exactly what parse-and-re-encode accepts.
@Suite struct CanonicalEntryScannerTests {
  static func samples() -> [[UInt8]] {
    let details: [[String: JSONValue]] = [
      [:],
      ["n": .integer(-42), "ok": .bool(true), "none": .null],
      ["é": .string("café"), "e": .string("\u{1}\u{8}\t\n\u{c}\r\"\\/\u{7f}"), "😀": .array([.integer(0), .object(["z": .integer(1), "a": .integer(2)])])],
      ["\u{e000}": .integer(1), "\u{10000}": .integer(2), "a\u{0}": .integer(3), "a": .integer(4)],
    ]
    return details.enumerated().map { i, details in
      LedgerEntry(
        index: UInt64(i * 1000), time: Int64(i) * 1_764_000_000_000_000_000 / 3 - 5,
        event: LedgerEvent(kind: "audit.event", actor: "Service::\"a\"", action: "act", resource: "R::\"\(i)\"", outcome: "ok", details: details),
        prev: SHA256.hash([UInt8(i)])
      ).canonicalBytes
    }
  }

  func agree(_ bytes: [UInt8]) -> Bool {
    let slow = try? LedgerEntry(canonicalBytes: bytes)
    switch CanonicalEntryScanner.scan(bytes) {
    case let .success(fields): return slow != nil && slow!.index == fields.index && slow!.prev == fields.prev && slow!.time == fields.time
    case .failure: return slow == nil
    }
  }

  @Test func encodedEventsFillTheTemplateExactlyAsTheFullEncoder() {
    for (i, sample) in Self.samples().enumerated() {
      let entry = try! LedgerEntry(canonicalBytes: sample)
      let encoded = EncodedEvent(entry.event)
      #expect(encoded.entryBytes(index: entry.index, prev: entry.prev, time: entry.time) == sample, "sample \(i)")
      #expect(encoded.maximumEntryBytes >= LedgerEntry(index: UInt64(Int64.max), time: Int64.min, event: entry.event, prev: .zero).canonicalBytes.count)
    }
  }

  @Test func acceptsEveryCanonicalEntry() {
    for sample in Self.samples() {
      guard case .success = CanonicalEntryScanner.scan(sample) else {
        Issue.record("rejected \(String(decoding: sample, as: UTF8.self))")
        continue
      }
    }
  }

  /// Integers of every length, at and beyond the 64-bit edges, at word boundaries of the fast path.
  @Test func agreesOnIntegersOfEveryLength() {
    let template = String(decoding: Self.samples()[0], as: UTF8.self)
    var numbers = (1...20).map { String(repeating: "9", count: $0) } + (1...20).map { "1" + String(repeating: "0", count: $0 - 1) }
    numbers += ["9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "12345678", "-12345678", "0", "-0", "01", "1.5", "1e3", "-"]
    for number in numbers {
      for pad in ["", "a", "ab", "abcdefg"] {
        // The number both inside details and as the entry's time (the last member, near the buffer's end).
        let inDetails = template.replacingOccurrences(of: "\"details\":{}", with: "\"details\":{\"\(pad)\":\(number)}")
        let asTime = template.replacingOccurrences(of: "\"time\":-5}", with: "\"time\":\(number)}")
        for text in [inDetails, asTime] {
          #expect(agree(Array(text.utf8)), "\(text)")
        }
      }
      if case let .success(fields) = CanonicalEntryScanner.scan(Array(template.replacingOccurrences(of: "\"time\":-5}", with: "\"time\":\(number)}").utf8)) {
        #expect(String(fields.time) == number)
      }
    }
  }

  @Test func agreesWithParseAndReencodeOnMutations() {
    var generator = SplitMix(seed: 0x5EED)
    let interesting: [UInt8] = Array(" \"\\,:{}[]0-19.eEuabfnrt".utf8) + [0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xa9, 0xed, 0xa0, 0xf0, 0xff]
    var disagreements = 0
    for sample in Self.samples() {
      for _ in 0..<5000 {
        var bytes = sample
        for _ in 0..<(1 + Int(generator.next() % 2)) {
          let position = Int(generator.next() % UInt64(bytes.count))
          let byte = interesting[Int(generator.next() % UInt64(interesting.count))]
          switch generator.next() % 3 {
          case 0: bytes[position] = byte
          case 1: bytes.insert(byte, at: position)
          default: bytes.remove(at: position)
          }
        }
        if !agree(bytes) {
          disagreements += 1
          if disagreements < 5 { Issue.record("disagree on \(String(decoding: bytes, as: UTF8.self))") }
        }
      }
    }
    #expect(disagreements == 0)
  }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
