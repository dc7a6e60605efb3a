import Benchmark
import CRawOpenSSL
import CustosCrypto
import CustosKeys
import CustosStore
import Foundation

// Custos's Encrypt against OpenSSL AES-256-GCM called directly from C, on the same 1 KiB in the same run:
// compare the ratio, not the absolute times. Each iteration is 1,000 encryptions.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 3, scalingFactor: .kilo,
    maxDuration: .seconds(5), maxIterations: 200)

  let plaintext = [UInt8](repeating: 0x5a, count: 1024)
  let context = try! EncryptionContext(["tenant": "acme"])

  // Set up once: unsealing runs Argon2id over 64 MiB, which would flush the caches before every iteration.
  let manager = try! KeyFixture.unsealed()
  _ = try! manager.encrypt(keyring: "bench", plaintext: plaintext, context: context)  // the first use reserves a usage block

  Benchmark("encrypt 1 KiB: KeyManager.encrypt (nonce, usage count, AAD, format)") { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try manager.encrypt(keyring: "bench", plaintext: plaintext, context: context))
    }
  }

  Benchmark("encrypt 1 KiB: raw OpenSSL from C, one-shot (new context, key setup, random nonce)") { benchmark in
    let key = SecureRandom.bytes(32)
    let aad = [UInt8](repeating: 1, count: 48)
    var out = [UInt8](repeating: 0, count: 1024)
    var tag = [UInt8](repeating: 0, count: 16)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      precondition(raw_gcm_encrypt_oneshot(key, aad, aad.count, plaintext, plaintext.count, &out, &tag) == 1)
      blackHole(tag)
    }
  }

  Benchmark("encrypt 1 KiB: raw OpenSSL from C, reused key schedule (openssl speed style)") { benchmark in
    let key = SecureRandom.bytes(32)
    let aad = [UInt8](repeating: 1, count: 48)
    let ctx = raw_gcm_context_new(key)
    defer { raw_gcm_context_free(ctx) }
    var out = [UInt8](repeating: 0, count: 1024)
    var tag = [UInt8](repeating: 0, count: 16)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      precondition(raw_gcm_encrypt_reused(ctx, aad, aad.count, plaintext, plaintext.count, &out, &tag) == 1)
      blackHole(tag)
    }
  }

  Benchmark(
    "unseal: Argon2id m=64 MiB t=3 p=4 + open the sealed root key",
    configuration: .init(metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, scalingFactor: .one, maxIterations: 10)
  ) { benchmark in
    let fixture = try KeyFixture.sealedOnDisk()
    for _ in benchmark.scaledIterations {
      let manager = try fixture.open()
      benchmark.startMeasurement()
      blackHole(try manager.unseal(passphrase: KeyFixture.passphrase))
      benchmark.stopMeasurement()
    }
  }
}

/// Key managers on a throw-away SQLite database and keys directory.
struct KeyFixture {
  static let passphrase = SecretBytes(copying: Array("benchmark passphrase".utf8))
  let store: SQLiteStore
  let files: SealedRootKeyFiles

  static func directory() throws -> String {
    let path = NSTemporaryDirectory() + "custos-keybench-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  func open() throws -> KeyManager { try KeyManager(storage: store.keyStorage, rootStore: files) }

  /// Initialized with the production Argon2id parameters, keyring "bench" created.
  static func sealedOnDisk() throws -> KeyFixture {
    let path = try directory()
    let fixture = KeyFixture(store: try SQLiteStore(path: path + "/custos.sqlite"), files: try SealedRootKeyFiles(directory: path + "/keys"))
    let manager = try fixture.open()
    _ = try manager.initialize(passphrase: passphrase)
    _ = try manager.createKeyring(name: "bench")
    return fixture
  }

  static func unsealed() throws -> KeyManager {
    let fixture = try sealedOnDisk()
    let manager = try fixture.open()
    _ = try manager.unseal(passphrase: passphrase)
    return manager
  }
}
