import CustosCrypto
import CustosJSON
import CustosLedger
import CustosLedgerTestSupport
import Testing

@testable import CustosEvidence

@Suite struct EvidenceBundleTests {
  /// A ledger of 60 entries in 6 appends (so 6 signed checkpoints), and the bundle of entries 20..<50.
  static func bundle() async throws -> (files: [String: [UInt8]], key: String, range: Range<UInt64>) {
    let signingKey = Ed25519.PrivateKey()
    let ledger = try Ledger(storage: InMemoryLedgerStorage(), signer: NoteSigner(name: "custos.test/ledger", privateKey: signingKey))
    var times: [Int64] = []
    for batch in 0..<6 {
      let receipts = try await ledger.append((0..<10).map { i in
        let n = batch * 10 + i
        return LedgerEvent(
          kind: n % 3 == 0 ? "authz.decision" : (n == 25 ? "key.rotate" : "audit.event"), actor: "Service::\"svc-\(n % 4)\"",
          action: "Action::\"act\"", resource: "Invoice::\"\(n)\"", outcome: n % 2 == 0 ? "allow" : "deny",
          details: ["n": .integer(Int64(n)), "note": .string("<b>\(n)</b>, \"quoted\"")])
      })
      times += receipts.map(\.time)
    }
    let inputs = try await EvidenceExport.inputs(
      ledger: ledger, fromTime: times[20], toTime: times[50], kinds: [], actors: [], exportedBy: "Service::\"admin\"",
      exportedAt: times[59])
    let files = EvidenceBuilder.build(inputs) { signingKey.signature(for: $0) }
    return (Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.bytes) }), ledger.verifier!.verifierKey, 20..<50)
  }

  static func verify(_ files: [String: [UInt8]], _ key: String) -> EvidenceFailure? {
    do {
      _ = try EvidenceVerifier(verifierKey: key).verify(files)
      return nil
    } catch { return error }
  }

  @Test func anExportedBundleVerifies() async throws {
    let (files, key, range) = try await Self.bundle()
    let verified = try EvidenceVerifier(verifierKey: key).verify(files)
    #expect(verified.entries == 30 && verified.manifest.firstIndex == range.lowerBound && verified.manifest.lastIndex == range.upperBound - 1)
    #expect(try EvidenceProofs(decoding: files[EvidenceBundle.proofsFile]!).startCheckpoint != nil)
    let report = String(decoding: files[EvidenceBundle.reportFile]!, as: UTF8.self)
    #expect(report.contains("<svg") && report.contains("PCI DSS v4.0 3.6") && report.contains("SOC 2 CC6.1"))
    #expect(!report.contains("<b>2"), "entry text must be escaped in the report")
    #expect(!report.contains("<script"))
  }

  @Test func oneChangedByteInAnyFileFailsNamingIt() async throws {
    let (files, key, _) = try await Self.bundle()
    for name in files.keys.sorted() {
      var tampered = files
      var bytes = tampered[name]!
      // Change a digit or letter well inside the file (not a newline).
      let position = (bytes.count / 2..<bytes.count).first { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 || bytes[$0] >= 0x61 && bytes[$0] <= 0x66 }!
      bytes[position] = bytes[position] == 0x31 ? 0x32 : 0x31
      tampered[name] = bytes
      let failure = try #require(Self.verify(tampered, key), "a change in \(name) went unnoticed")
      if name == EvidenceBundle.signatureFile || name == EvidenceBundle.manifestFile {
        #expect(failure.file == EvidenceBundle.signatureFile || failure.file == EvidenceBundle.manifestFile, "\(failure)")
      } else if name == EvidenceBundle.entriesFile {
        #expect(failure.file == name && failure.index != nil, "\(failure)")
      } else {
        #expect(failure.file == name || failure.file == EvidenceBundle.proofsFile || failure.file == EvidenceBundle.checkpointFile, "\(name): \(failure)")
      }
    }
  }

  @Test func missingFilesReorderedLinesAndForeignEntriesFail() async throws {
    let (files, key, _) = try await Self.bundle()
    for name in files.keys {
      var without = files
      without[name] = nil
      #expect(Self.verify(without, key)?.file == name, "without \(name)")
    }
    var lines = String(decoding: files[EvidenceBundle.entriesFile]!, as: UTF8.self).split(separator: "\n").map(String.init)
    lines.swapAt(4, 5)
    var reordered = files
    reordered[EvidenceBundle.entriesFile] = Array((lines.joined(separator: "\n") + "\n").utf8)
    let failure = try #require(Self.verify(reordered, key))
    #expect(failure.file == EvidenceBundle.entriesFile && failure.index == 24, "\(failure)")

    // An entry from another ledger (same index, its own chain) breaks the chain at that index.
    let (other, _, _) = try await Self.bundle()
    var foreignLines = lines
    foreignLines.swapAt(4, 5)
    foreignLines[7] = String(String(decoding: other[EvidenceBundle.entriesFile]!, as: UTF8.self).split(separator: "\n")[7])
    var foreign = files
    foreign[EvidenceBundle.entriesFile] = Array((foreignLines.joined(separator: "\n") + "\n").utf8)
    #expect(Self.verify(foreign, key)?.file == EvidenceBundle.entriesFile)

    // Another ledger's key refuses the whole bundle.
    let otherKey = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()).verifier.verifierKey
    #expect(Self.verify(files, otherKey)?.file == EvidenceBundle.signatureFile)
  }

  /// Chunks smaller than a line, a line's length, and larger: lines that span chunks (or several) are
  /// checked exactly like the rest, and every failure is reported at the same place whatever the size.
  @Test func chunkSizeChangesNothing() async throws {
    let (files, key, _) = try await Self.bundle()
    let verifier = try EvidenceVerifier(verifierKey: key)
    let lineLength = files[EvidenceBundle.entriesFile]!.firstIndex(of: 0x0A)! + 1
    let sizes = [1, 7, 64, lineLength - 1, lineLength, lineLength + 1, 3 * lineLength + 5, 4096, 1 << 20]
    for size in sizes {
      #expect(try verifier.verify(InMemoryEvidence(files), chunkBytes: size).entries == 30, "chunks of \(size)")
    }
    var lines = String(decoding: files[EvidenceBundle.entriesFile]!, as: UTF8.self).split(separator: "\n").map(String.init)
    var tamperings: [[String]] = []
    for line in [0, 9, 17, 29] {
      var changed = lines
      changed[line] = changed[line].replacingOccurrences(of: "\"outcome\":\"", with: "\"outcome\":\"x")
      tamperings.append(changed)
      var dropped = lines
      dropped.remove(at: line)
      tamperings.append(dropped)
    }
    lines.append(lines[29])
    tamperings.append(lines)
    for tampered in tamperings {
      var bundle = files
      bundle[EvidenceBundle.entriesFile] = Array((tampered.joined(separator: "\n") + "\n").utf8)
      var failures: [String] = []
      for size in sizes {
        do {
          _ = try verifier.verify(InMemoryEvidence(bundle), chunkBytes: size)
          failures.append("PASS")
        } catch { failures.append("\(error.file) \(error.index.map(String.init) ?? "-") \(error.reason)") }
      }
      #expect(!failures.contains("PASS") && Set(failures).count == 1, "\(failures)")
    }
  }

  /// `stream` hands over the file exactly, in order, whatever the chunk size; a missing file is false.
  @Test func streamingYieldsTheFileInOrder() throws {
    let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let source = InMemoryEvidence(["f": bytes])
    for size in [1, 7, 4096, 10_000, 1 << 20] {
      var seen: [UInt8] = []
      #expect(try source.stream("f", chunkBytes: size) { seen += $0 })
      #expect(seen == bytes, "chunks of \(size)")
    }
    #expect(try source.stream("missing") { _ in } == false)
  }

  /// A line longer than any entry fails instead of growing the verifier's memory.
  @Test func anOverlongLineFailsWithoutBeingHeld() async throws {
    let (files, key, _) = try await Self.bundle()
    var bundle = files
    bundle[EvidenceBundle.entriesFile] = files[EvidenceBundle.entriesFile]! + [UInt8](repeating: 0x61, count: EvidenceEntriesCheck.maximumLineBytes + 1)
    let failure = try #require(Self.verify(bundle, key))
    #expect(failure.file == EvidenceBundle.entriesFile && failure.index == 50 && failure.reason.contains("longer than"), "\(failure)")
  }

  @Test func summaryCountsAndCSVQuoting() {
    var summary = EvidenceSummary()
    let day: Int64 = 1_764_028_800 * 1_000_000_000  // 2025-11-25T00:00:00Z
    summary.add(["kind": .string("authz.decision"), "actor": .string("=cmd|x"), "action": .string("a,b"), "outcome": .string("deny"), "time": .integer(day)], kinds: [], actors: [])
    summary.add(["kind": .string("authz.decision"), "actor": .string("s"), "outcome": .string("allow"), "time": .integer(day)], kinds: [], actors: [])
    summary.add(["kind": .string("audit.event"), "actor": .string("s"), "outcome": .string("ok"), "time": .integer(day)], kinds: ["authz.decision"], actors: [])
    #expect(summary.entries == 2 && summary.allows == 1 && summary.denies == 1)
    #expect(EvidenceSummary.day(day) == "2025-11-25")
    let csv = String(decoding: summary.csv(), as: UTF8.self)
    #expect(csv.contains("top_denied_principal,'=cmd|x,1"))
    #expect(csv.contains("top_denied_action,\"a,b\",1"))
  }

  @Test func summaryFromCanonicalBytesEqualsSummaryFromParsedEntries() throws {
    let kinds = ["authz.decision", "policy.activate", "key.rotate", "token.issue", "audit.event", "client.create"]
    var fromBytes = EvidenceSummary(), fromObjects = EvidenceSummary()
    var filteredBytes = EvidenceSummary(), filteredObjects = EvidenceSummary()
    for n in 0..<120 {
      let details: [String: JSONValue] = [
        "policy_set_hash": .string(n % 5 == 0 ? "h\(n)" : "é \"quoted\" \\ \u{1}"), "reason": .string("r\(n)"),
        "nested": .object(["kind": .string("not.the.kind"), "time": .integer(1)]),
      ]
      let entry = LedgerEntry(
        index: UInt64(n), time: 1_764_028_800_000_000_000 + Int64(n) * 3_600_000_000_000,
        event: LedgerEvent(
          kind: kinds[n % kinds.count], actor: n % 7 == 0 ? "Service::\"we\\ird \\\"one\\\"\"" : "Service::\"svc-\(n % 3)\"",
          action: "Action::\"a\(n % 4)\"", resource: "Invoice::\"\(n)\"", outcome: ["allow", "deny", "denied", "ok", "denied"][n % 5],
          details: details),
        prev: .zero)
      let object = try #require(try JSONParser.parse(entry.canonicalBytes).objectValue)
      fromBytes.add(canonical: entry.canonicalBytes, kinds: [], actors: [])
      fromObjects.add(object, kinds: [], actors: [])
      filteredBytes.add(canonical: entry.canonicalBytes, kinds: ["policy.activate", "token.issue"], actors: ["Service::\"svc-1\""])
      filteredObjects.add(object, kinds: ["policy.activate", "token.issue"], actors: ["Service::\"svc-1\""])
    }
    #expect(fromBytes.json() == fromObjects.json())
    #expect(fromBytes.csv() == fromObjects.csv())
    #expect(filteredBytes.json() == filteredObjects.json())
    #expect(fromBytes.adminActions.count > 0 && fromBytes.policyVersions.count > 0 && fromBytes.failedAuthentications.count > 0)
  }
}
