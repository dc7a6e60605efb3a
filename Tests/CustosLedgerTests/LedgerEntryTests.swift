import CustosCrypto
import CustosJSON
import Testing

@testable import CustosLedger

@Suite struct LedgerEntryTests {
  @Test func entriesRoundTripThroughTheirCanonicalBytes() throws {
    let event = LedgerEvent(
      kind: "audit.event", actor: "Service::\"deploy-bot\"", action: "deploy", resource: "App::\"billing\"",
      outcome: "success", details: ["version": .string("1.2.3"), "replicas": .integer(3)])
    let entry = LedgerEntry(index: 7, time: 1_764_000_000_123_456_789, event: event, prev: SHA256.hash([1]))
    let bytes = entry.canonicalBytes
    #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"action":"deploy","actor":"Service::\"deploy-bot\"","details":{"replicas":3,"version":"1.2.3"},"index":7,"kind":"audit.event","#))
    #expect(try LedgerEntry(canonicalBytes: bytes) == entry)
    var spaced = bytes
    spaced.insert(0x20, at: 1)
    #expect(throws: LedgerError.self) { try LedgerEntry(canonicalBytes: spaced) }
  }
}
