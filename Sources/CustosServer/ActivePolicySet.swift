import CustosCrypto
import CustosJSON
import CustosLedger
import CustosPolicy
import Foundation
import Logging
import Synchronization

/// The policy set decisions are made with, swapped atomically on reload. Every activation is recorded in
/// the ledger (`policy.activate`) before the set serves a single decision: a set loaded while the ledger
/// key is sealed is recorded when the first decision after the unseal asks for it (`recordedSnapshot`).
final class ActivePolicySet: Sendable {
  struct Snapshot: Sendable {
    let set: PolicySet
    /// Nil until the activation is recorded (the ledger key was sealed when the set was loaded).
    let activation: LedgerReceipt?
  }

  /// Why a reload did not happen; the old set keeps serving.
  struct ReloadFailure: Error, CustomStringConvertible {
    let description: String
  }

  let directory: String
  /// Several nodes: the set lives in the database, and the directory only seeds an empty one.
  let shared: (any PolicySetStorage)?
  private let ledger: Ledger
  private let logger: Logger
  private let current: Mutex<Snapshot>
  /// Serializes reloads so two cannot interleave their activation entries (the next waits its turn).
  private let reloading = Mutex(false)

  /// Loads the directory and records the activation; throws when the set does not load.
  init(directory: String, shared: (any PolicySetStorage)? = nil, ledger: Ledger, logger: Logger) async throws {
    self.directory = directory
    self.shared = shared
    self.ledger = ledger
    self.logger = logger
    let set: PolicySet
    if let shared {
      if let stored = try await BlockingWork.run({ try shared.activePolicySet() }) {
        set = try Self.parse(stored.files, from: "the database")
      } else {
        // The first node on an empty database pushes its directory.
        let files = try Self.read(directory)
        set = try Self.parse(files, from: directory)
        let hash = set.hash.hex
        try await BlockingWork.run { try shared.activatePolicySet(hash: hash, files: files) }
        logger.notice("the database held no policy set: pushed \(directory)", metadata: ["hash": "\(hash)"])
      }
    } else {
      set = try Self.load(directory)
    }
    let receipt = await ledger.canSign ? try await Self.recordActivation(set, previous: nil, ledger: ledger) : nil
    current = Mutex(Snapshot(set: set, activation: receipt))
    logger.info(receipt == nil ? "policy set loaded; it is recorded and serves once the root key is unsealed" : "policy set active", metadata: [
      "hash": "\(set.hash.hex)", "policies": "\(set.policies.count)",
    ])
    warnAboutPoliciesThatNeverApply(set)
  }

  /// The active snapshot (a lock acquire and a reference copy), recorded or not.
  var snapshot: Snapshot { current.withLock { $0 } }

  /// The snapshot to decide with: its activation recorded first if it was not yet.
  func recordedSnapshot() async throws -> Snapshot {
    let active = snapshot
    if active.activation != nil { return active }
    try await takeTurn()
    defer { reloading.withLock { $0 = false } }
    let pending = snapshot
    guard pending.activation == nil else { return pending }
    let recorded = Snapshot(set: pending.set, activation: try await Self.recordActivation(pending.set, previous: nil, ledger: ledger))
    current.withLock { $0 = recorded }
    return recorded
  }

  /// One reload (or pending activation) at a time, in turn: a push announced while another reload runs
  /// must not be dropped. The caller releases the turn.
  private func takeTurn() async throws {
    while !reloading.withLock({ busy in defer { busy = true }; return !busy }) {
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  /// Re-reads the directory. If it loads and differs, records the activation, then swaps it in.
  @discardableResult
  func reload(trigger: String) async throws -> Snapshot {
    try await takeTurn()
    defer { reloading.withLock { $0 = false } }
    let old = snapshot
    let set: PolicySet
    do {
      if let shared {
        guard let stored = try await BlockingWork.run({ try shared.activePolicySet() }) else { return old }
        guard stored.hash != old.set.hash.hex else { return old }
        set = try Self.parse(stored.files, from: "the database")
      } else {
        set = try Self.load(directory)
      }
    } catch {
      logger.error("policy reload rejected; the previous set keeps serving", metadata: ["trigger": "\(trigger)", "error": "\(error)"])
      throw ReloadFailure(description: "\(error)")
    }
    guard set.hash != old.set.hash else { return old }
    let receipt = try await Self.recordActivation(set, previous: old.set, ledger: ledger)
    let next = Snapshot(set: set, activation: receipt)
    current.withLock { $0 = next }
    logger.notice("policy set activated", metadata: ["trigger": "\(trigger)", "hash": "\(set.hash.hex)", "policies": "\(set.policies.count)"])
    warnAboutPoliciesThatNeverApply(set)
    return next
  }

  /// Validates `files` and makes them the set of every node (several nodes only); this node swaps it in
  /// at once, the others when the database tells them. Throws `ReloadFailure` for a set that does not
  /// load or validate: nothing is stored, and the old set keeps serving everywhere.
  func push(_ files: [(name: String, bytes: [UInt8])]) async throws -> Snapshot {
    guard let shared else {
      throw ReloadFailure(description: "a single node's policy set is its policies directory (\(directory)): change it there and reload")
    }
    let set = try Self.parse(files, from: "the pushed files")
    let hash = set.hash.hex
    try await BlockingWork.run { try shared.activatePolicySet(hash: hash, files: files) }
    return try await reload(trigger: "PushPolicySet")
  }

  /// A set from source files, or why it does not load (parse and validation errors name the file).
  static func parse(_ files: [(name: String, bytes: [UInt8])], from place: String) throws -> PolicySet {
    do { return try PolicySet(files: files) } catch PolicySetError.noPolicies {
      throw ReloadFailure(description: "no .cedar files in \(place)")
    } catch {
      throw ReloadFailure(description: "\(error)")
    }
  }

  /// A directory's source files, by name.
  static func read(_ directory: String) throws -> [(name: String, bytes: [UInt8])] {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
      throw ReloadFailure(description: "cannot read the policies directory \(directory): \(error.localizedDescription)")
    }
    var files: [(name: String, bytes: [UInt8])] = []
    for name in names.sorted() where PolicySet.isSourceFile(name) {
      let path = (directory as NSString).appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: path) else { throw ReloadFailure(description: "cannot read \(path)") }
      files.append((name, [UInt8](data)))
    }
    return files
  }

  static func load(_ directory: String) throws -> PolicySet {
    try parse(try read(directory), from: directory)
  }

  private func warnAboutPoliciesThatNeverApply(_ set: PolicySet) {
    for warning in set.validationWarnings { logger.warning("policy can never apply", metadata: ["policy": "\(warning)"]) }
  }

  private static func recordActivation(_ set: PolicySet, previous: PolicySet?, ledger: Ledger) async throws -> LedgerReceipt {
    var fileHashes: [String: JSONValue] = [:]
    for file in set.files { fileHashes[file.name] = .string(file.sha256.hex) }
    var details: [String: JSONValue] = [
      "policy_set_hash": .string(set.hash.hex), "files": .object(fileHashes),
      "policy_count": .integer(Int64(set.policies.count)), "entity_count": .integer(Int64(set.entities.count)),
    ]
    if let previous { details["previous_policy_set_hash"] = .string(previous.hash.hex) }
    // Policies that validate but can never apply are on record with the activation, for the reviewer.
    if !set.validationWarnings.isEmpty {
      details["validation_warnings"] = .array(set.validationWarnings.map { .string($0.description) })
    }
    return try await ledger.append(LedgerEvent(
      kind: "policy.activate", actor: "custosd", action: "activate", resource: "PolicySet::\"\(set.hash.hex)\"",
      outcome: "success", details: details))
  }
}
