import CustosCrypto
import Synchronization

@testable import CustosKeys

/// A key manager over in-memory stores, with cheap Argon2id and a clock the test moves.
struct KeyManagerFixture {
  let storage = InMemoryKeyStorage()
  let rootStore = InMemorySealedRootStore()
  let now = ClockBox()
  var options: KeyManager.Options

  init(configure: (inout KeyManager.Options) -> Void = { _ in }) {
    var options = KeyManager.Options()
    options.passphraseSealing = Argon2id.Parameters(memoryKiB: 64, iterations: 1, parallelism: 1)
    let now = self.now
    options.clock = { now.value }
    configure(&options)
    self.options = options
  }

  /// A fresh manager on the same stores, as after a restart.
  func open() throws -> KeyManager { try KeyManager(storage: storage, rootStore: rootStore, options: options) }

  static let passphrase = "correct horse battery staple"
  static func secret(_ text: String) -> SecretBytes { SecretBytes(copying: Array(text.utf8)) }

  /// An initialized, unsealed manager.
  func initialized() throws -> KeyManager {
    let manager = try open()
    _ = try manager.initialize(passphrase: Self.secret(Self.passphrase))
    return manager
  }
}

final class ClockBox: Sendable {
  private let nanoseconds = Mutex<Int64>(1_800_000_000_000_000_000)
  var value: Int64 { nanoseconds.withLock { $0 } }
  func advance(days: Int64) { nanoseconds.withLock { $0 += days * 86_400 * 1_000_000_000 } }
  func advance(seconds: Int64) { nanoseconds.withLock { $0 += seconds * 1_000_000_000 } }
}

func bytes(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }
