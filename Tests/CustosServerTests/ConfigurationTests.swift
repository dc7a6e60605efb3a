import CustosCrypto
import CustosLedger
import Foundation
import Testing

@testable import CustosServer

@Suite struct ConfigurationTests {
  @Test func layersApplyFileThenEnvironmentThenFlags() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("custos-config-\(UUID().uuidString).json")
    try Data(#"{"listen": "127.0.0.1:9000", "data_dir": "/var/lib/custos", "log_level": "debug", "max_entry_bytes": 2048}"#.utf8).write(to: file)
    let configuration = try Configuration.load(
      file: file.path,
      environment: ["CUSTOS_DATA_DIR": "/srv/custos", "CUSTOS_HTTP_LISTEN": "off", "UNRELATED": "x"],
      overrides: [.dataDir: "/tmp/custos"])
    #expect(configuration.listen == HostPort(host: "127.0.0.1", port: 9000))
    #expect(configuration.dataDirectory == "/tmp/custos")
    #expect(configuration.httpListen == nil)
    #expect(configuration.logLevel == .debug)
    #expect(configuration.maximumEntryBytes == 2048)
    #expect(configuration.keysDirectory == "keys")
  }

  @Test(arguments: [
    (Configuration.Key.listen, "localhost", "HOST:PORT"),
    (.listen, "127.0.0.1:70000", "HOST:PORT"),
    (.logLevel, "loud", "log level"),
    (.ledgerOrigin, "has space", "checkpoint origin"),
    (.maxEntryBytes, "10", "between 1024"),
    (.authentication, "maybe", "\"required\" or \"off\""),
    (.tokenSkew, "-5", "between 0 and 600"),
    (.clientSecretArgon2, "m=1024,t=2,p=1", "m=KIB,t=PASSES,p=LANES"),
    (.autoInit, "perhaps", "true or false"),
    (.keyMaintenanceInterval, "0", "between 1 and 86400"),
    (.tokenFailuresAllowed, "-1", "between 0 and 1000"),
    (.tokenFailureDelay, "0", "between 1 and 60000"),
  ])
  func badValuesNameTheSettingItsSourceAndWhatIsAccepted(_ key: Configuration.Key, _ value: String, _ expected: String) {
    #expect {
      _ = try Configuration.load(file: nil, environment: [key.environmentName: value], overrides: [:])
    } throws: { error in
      let text = "\(error)"
      return text.contains(key.environmentName) && text.contains(value) && text.contains(expected)
    }
  }

  @Test func keyAndTokenSettingsParse() throws {
    let configuration = try Configuration.load(
      file: nil,
      environment: ["CUSTOS_AUTHENTICATION": "off", "CUSTOS_CLIENT_SECRET_ARGON2": "m=65536,t=3,p=2", "CUSTOS_TLS_CERT_FILE": "c.pem"],
      overrides: [.tokenSkew: "0", .autoInit: "true"])
    #expect(!configuration.authentication && configuration.autoInit && configuration.tokenSkewSeconds == 0)
    #expect(configuration.clientSecretArgon2 == .init(memoryKiB: 65536, iterations: 3, parallelism: 2))
    #expect(configuration.tlsCertificateFile == "c.pem" && configuration.tlsKeyFile == nil)
    #expect(throws: Daemon.StartupFailure.self) { try Daemon.transportSecurity(configuration) }
  }

  @Test func bruteForceSettingsParseAndAWindowShorterThanTheLongestDelayIsRefused() throws {
    let configuration = try Configuration.load(
      file: nil, environment: ["CUSTOS_TOKEN_FAILURES_ALLOWED": "2", "CUSTOS_TOKEN_FAILURE_DELAY_MS": "250"],
      overrides: [.tokenFailureMaxDelay: "30", .tokenFailureWindow: "30"])
    #expect(configuration.authenticationThrottle == .init(
      allowedFailures: 2, firstDelayMilliseconds: 250, maximumDelayMilliseconds: 30_000, windowSeconds: 30))
    #expect {
      _ = try Configuration.load(file: nil, environment: ["CUSTOS_TOKEN_FAILURE_WINDOW_SECONDS": "60"], overrides: [:])
    } throws: { "\($0)".contains("token_failure_window_seconds (60) must be at least token_failure_max_delay_seconds (300)") }
  }

  @Test func aWitnessQuorumAboveTheConfiguredWitnessesIsRefused() throws {
    let vkey = CosignerKey(name: "witness.test/w1", publicKey: Ed25519.PrivateKey().publicKey).vkey
    let one = "http://127.0.0.1:7490 \(vkey)"
    #expect(try Configuration.load(file: nil, environment: ["CUSTOS_WITNESSES": one], overrides: [:]).effectiveWitnessQuorum == 1)
    #expect(try Configuration.load(file: nil, environment: ["CUSTOS_WITNESSES": one, "CUSTOS_WITNESS_QUORUM": "1"], overrides: [:]).witnessQuorum == 1)
    #expect {
      _ = try Configuration.load(file: nil, environment: ["CUSTOS_WITNESSES": one, "CUSTOS_WITNESS_QUORUM": "2"], overrides: [:])
    } throws: { "\($0)".contains("witness_quorum (2) is more than the 1 configured witnesses") }
    #expect {
      _ = try Configuration.load(file: nil, environment: ["CUSTOS_WITNESS_QUORUM": "0"], overrides: [:])
    } throws: { "\($0)".contains("a count of witnesses between 1 and 100") }
  }

  @Test func unknownFileSettingsAreRejected() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("custos-config-\(UUID().uuidString).json")
    try Data(#"{"listn": "127.0.0.1:9000"}"#.utf8).write(to: file)
    #expect {
      _ = try Configuration.load(file: file.path, environment: [:], overrides: [:])
    } throws: { "\($0)".contains("unknown setting \"listn\"") }
    #expect(throws: Configuration.Invalid.self) { try Configuration.load(file: "/nonexistent/custos.json", environment: [:], overrides: [:]) }
  }

  @Test func hostPortParsesIPv4AndBracketedIPv6() {
    #expect(HostPort("127.0.0.1:7443") == HostPort(host: "127.0.0.1", port: 7443))
    #expect(HostPort("[::1]:7443") == HostPort(host: "::1", port: 7443))
    #expect(HostPort("[::1]:7443")?.description == "[::1]:7443")
    #expect(HostPort("nope") == nil)
  }

  @Test func bruteForceLimitsCountAPeerByItsHostWithoutThePort() {
    #expect(PeerAddress.host(of: "ipv4:10.0.0.7:51234") == "10.0.0.7")
    #expect(PeerAddress.host(of: "ipv6:[2001:db8::1]:51234") == "2001:db8::1")
    #expect(PeerAddress.host(of: "unix:/run/custos.sock") == "unix:/run/custos.sock")
  }
}
