import Benchmark
import CRawOpenSSL
import CustosCrypto
import CustosStore
import CustosTokens
import Foundation

// Token issuance (claims, JWS encoding, Ed25519 signature) against OpenSSL's own Ed25519 signing of a
// message as long as the token's signing input, called from C in the same run; the client-secret check
// (Argon2id at the OWASP parameters) is timed on its own. Each signing iteration is 1,000 tokens.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput], timeUnits: .microseconds, warmupIterations: 3, scalingFactor: .kilo,
    maxDuration: .seconds(5), maxIterations: 200)

  let fixture = try! TokenFixture()
  let client = fixture.authority.client("billing-worker")!
  let now = TokenAuthority.wallClock()
  let sample = try! fixture.authority.sign(for: client, audience: "custos", scope: "", now: now).token
  let signingInputLength = sample.split(separator: ".").prefix(2).joined(separator: ".").utf8.count

  Benchmark("issue: TokenAuthority.sign (claims, JWS, Ed25519)") { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try fixture.authority.sign(for: client, audience: "custos", scope: "", now: now))
    }
  }

  Benchmark("issue: raw OpenSSL Ed25519 signature from C over \(signingInputLength) bytes") { benchmark in
    let seed = SecureRandom.bytes(32)
    let key = raw_ed25519_key_new(seed)
    defer { raw_ed25519_key_free(key) }
    let message = [UInt8](repeating: 0x61, count: signingInputLength)
    var signature = [UInt8](repeating: 0, count: 64)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      precondition(raw_ed25519_sign(key, message, message.count, &signature) == 1)
      blackHole(signature)
    }
  }

  Benchmark("verify: TokenAuthority.verify, cached (every authenticated call)") { benchmark in
    for _ in benchmark.scaledIterations { blackHole(try fixture.authority.verify(sample)) }
  }

  Benchmark(
    "client secret: Argon2id m=19 MiB t=2 p=1 verification",
    configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, scalingFactor: .one, maxIterations: 20)
  ) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(client.authenticates(fixture.secret, now: now)) }
  }
}

/// A token authority on a throw-away database with one client; its signing key sealed by a stand-in
/// (the benchmark measures signing, not the root key).
struct TokenFixture {
  let authority: TokenAuthority
  let secret: SecretBytes

  struct PlainSealer: SigningKeySealer {
    func seal(_ privateKey: [UInt8], kid: String) throws -> [UInt8] { privateKey }
    func open(_ sealed: [UInt8], kid: String) throws -> [UInt8] { sealed }
  }

  init() throws {
    let path = NSTemporaryDirectory() + "custos-tokenbench-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    authority = try TokenAuthority(storage: try SQLiteStore(path: path + "/custos.sqlite").tokenStorage, sealer: PlainSealer())
    secret = try authority.createClient(
      id: "billing-worker", displayName: "", roles: ["Role::\"payments\""], audiences: ["custos"], tokenTTLSeconds: nil
    ).secret
  }
}
