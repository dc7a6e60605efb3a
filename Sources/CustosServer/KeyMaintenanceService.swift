import CustosJSON
import CustosKeys
import CustosLedger
import CustosTokens
import Logging
import ServiceLifecycle

/// Carries out scheduled key destructions and periodic rotations, recording each in the ledger, and
/// prunes token revocations and signing keys that can no longer matter, and expired idempotency keys.
struct KeyMaintenanceService: Service {
  let keys: KeyManager
  let audit: KeyAudit
  let interval: Duration
  let logger: Logger
  var tokens: TokenAuthority?

  func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      await runOnce()
      // The wait ends at shutdown too, so a long interval never delays it.
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }

  func runOnce() async {
    let ledger = audit.ledger
    do {
      let pruned = try await BlockingWork.run { try ledger.storage.pruneIdempotencyRecords(expiredBy: wallClockNanoseconds()) }
      if pruned > 0 { logger.info("pruned expired idempotency keys", metadata: ["count": "\(pruned)"]) }
    } catch {
      logger.error("pruning idempotency keys failed; it will be retried", metadata: ["error": "\(error)"])
    }
    if let tokens {
      do { try await BlockingWork.run { try tokens.prune() } } catch {
        logger.error("pruning token revocations failed; it will be retried", metadata: ["error": "\(error)"])
      }
    }
    do {
      let keys = self.keys
      let actions = try await BlockingWork.run { try keys.runMaintenance() }
      guard !actions.isEmpty else { return }
      _ = try await audit.ledger.append(actions.map { Self.event(for: $0, audit: audit) })
      for action in actions { logger.notice("key maintenance", metadata: ["action": "\(action)"]) }
    } catch {
      logger.error("key maintenance failed; it will be retried", metadata: ["error": "\(error)"])
    }
  }

  static let actor = "custosd"

  static func event(for action: KeyManager.MaintenanceAction, audit: KeyAudit) -> LedgerEvent {
    switch action {
    case let .destroyedKeyring(name):
      return audit.event("destroyed", caller: actor, resource: KeyAudit.resource(name), outcome: "ok", details: ["keyring": .string(name)])
    case let .destroyedVersion(name, version):
      return audit.event(
        "destroyed", caller: actor, resource: KeyAudit.resource(name), outcome: "ok",
        details: ["keyring": .string(name), "version": .integer(Int64(version))])
    case let .rotated(rotation):
      return event(for: rotation, audit: audit, caller: actor)
    }
  }

  static func event(for rotation: KeyManager.Rotation, audit: KeyAudit, caller: String) -> LedgerEvent {
    audit.event(
      "rotate", caller: caller, resource: KeyAudit.resource(rotation.keyring), outcome: "ok",
      details: [
        "keyring": .string(rotation.keyring), "latest_version": .integer(Int64(rotation.version)),
        "reason": .string(rotation.reason.rawValue),
      ])
  }
}
