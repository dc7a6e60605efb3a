import CustosCrypto
import CustosLedger
import CustosLedgerTestSupport
import Foundation
import Logging
import Testing

@testable import CustosServer

/// What a policy activation puts on record.
@Suite struct PolicyActivationRecordTests {
  @Test func policiesThatCanNeverApplyAreRecordedWithTheActivation() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custos-policies-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: DaemonProcess.packageRoot.appendingPathComponent("policies"), to: directory)
    defer { try? FileManager.default.removeItem(at: directory) }
    try Data("@id(\"never\")\npermit(principal, action == Action::\"deploy\", resource) when { principal == resource };\n".utf8)
      .write(to: directory.appendingPathComponent("zz-never.cedar"))
    let ledger = try Ledger(storage: InMemoryLedgerStorage(), signer: NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()))
    _ = try await ActivePolicySet(directory: directory.path, ledger: ledger, logger: Logger(label: "test"))
    var activation: [String: Any]?
    try ledger.entries(from: 0, to: 1, size: 1) { entry in
      activation = try JSONSerialization.jsonObject(with: Data(entry.canonical)) as? [String: Any]
      return false
    }
    #expect(activation?["kind"] as? String == "policy.activate")
    let warnings = (activation?["details"] as? [String: Any])?["validation_warnings"] as? [String]
    #expect(warnings?.count == 1)
    #expect(warnings?.first?.hasPrefix(#"zz-never.cedar:1:1: policy10 (@id "never"): the policy can never apply"#) == true, "\(warnings ?? [])")
  }
}
