import CustosBackup
import Foundation
import Logging
import ServiceLifecycle

/// Takes a backup into `directory` every `interval` (each recorded in the ledger like any backup) and
/// keeps the newest `retention` files. A backup that fails is logged and tried at the next interval;
/// decisions never wait for it.
struct ScheduledBackupService: Service {
  let backups: BackupService
  let directory: String
  let interval: Duration
  let retention: Int
  let logger: Logger

  static let prefix = "custos-", suffix = ".backup"

  func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
      guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
      await runOnce()
    }
  }

  func runOnce() async {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      let stamp = Self.stamp(Date())
      let path = (directory as NSString).appendingPathComponent("\(Self.prefix)\(stamp)\(Self.suffix)")
      let partial = path + ".partial"
      let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL, 0o600)
      guard fd >= 0 else { throw Daemon.StartupFailure(description: "cannot create \(partial): \(String(cString: strerror(errno)))") }
      let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
      do {
        let manifest = try await backups.stream(caller: "custosd") { chunk in try handle.write(contentsOf: chunk) }
        try handle.synchronize()
        try handle.close()
        try FileManager.default.moveItem(atPath: partial, toPath: path)
        logger.notice("scheduled backup written", metadata: ["file": "\(path)", "tree_size": "\(manifest.treeSize)"])
      } catch {
        try? FileManager.default.removeItem(atPath: partial)
        throw error
      }
      try prune()
    } catch {
      logger.error("scheduled backup failed; it is tried again at the next interval", metadata: ["error": "\(error)"])
    }
  }

  /// Deletes all but the newest `retention` backups (names sort by time).
  func prune() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory)
      .filter { $0.hasPrefix(Self.prefix) && $0.hasSuffix(Self.suffix) }.sorted()
    for name in names.dropLast(retention) {
      try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
    }
  }

  /// UTC, sortable, with milliseconds: 20261204T181530.123Z.
  static func stamp(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
    return formatter.string(from: date)
  }
}
