import CustosCrypto
import CustosKeys
import CustosLedger
import CustosLedgerTestSupport
import Foundation
import Testing

@testable import CustosBackup

/// The backup file: written from a store, read back whole; any change to any part is refused, naming it.
@Suite struct BackupFileTests {
  let signer = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey())

  /// A ledger of 300 entries in uneven batches, and its backup's bytes.
  func backup() async throws -> (bytes: [UInt8], storage: InMemoryLedgerStorage) {
    let storage = InMemoryLedgerStorage()
    let ledger = try Ledger(storage: storage, signer: signer)
    var n = 0
    for size in [1, 7, 64, 3, 100, 125] {
      _ = try await ledger.append((0..<size).map { i in
        LedgerEvent(kind: "audit.event", actor: "a", action: "b", resource: "r\(n + i)", outcome: "ok", details: ["n": .integer(Int64(n + i))])
      })
      n += size
    }
    var contents = BackupContents()
    contents.rootKeyID = "0123456789abcdef"
    contents.sealedRootKey = .init(current: [1, 2, 3])
    contents.keyrings = [KeyringRecord(
      name: "orders", createdAt: 1, latestVersion: 1, minDecryptionVersion: 1, minAvailableVersion: 1, rotationPeriodSeconds: 0,
      versions: [KeyVersionRecord(version: 1, wrappedKey: [9, 9, 9], createdAt: 1, usageReserved: 0)])]
    contents.policyFiles = [.init(name: "a.cedar", content: Array("permit(principal, action, resource);".utf8))]
    var bytes: [UInt8] = []
    _ = try BackupDump.write(
      storage: storage, contents: contents, origin: signer.name, verifierKey: signer.verifier.verifierKey, createdAt: 1,
      sign: { signer.signature(for: $0) }, sink: { bytes += $0 })
    return (bytes, storage)
  }

  /// Reads of the whole file at once, and of 1,000 bytes at a time: records cut across reads, and a
  /// block's rows checked while the next one is read.
  static let readSizes = [4 << 20, 1000]

  func verify(_ bytes: [UInt8], key: String? = nil, readBytes: Int = 4 << 20) throws -> BackupReader.Verified {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("custos-backup-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    defer { try? FileManager.default.removeItem(atPath: path) }
    var reader = try BackupReader(path: path, readBytes: readBytes)
    return try reader.verify(verifierKey: key ?? signer.verifier.verifierKey)
  }

  /// The offset of the first occurrence of `needle` in `bytes`.
  func offset(of needle: [UInt8], in bytes: [UInt8], after start: Int = 0) -> Int {
    var i = start
    while i + needle.count <= bytes.count {
      if Array(bytes[i..<(i + needle.count)]) == needle { return i }
      i += 1
    }
    return -1
  }

  @Test(arguments: readSizes) func aBackupReadsBackWhole(readBytes: Int) async throws {
    let (bytes, storage) = try await backup()
    let verified = try verify(bytes, readBytes: readBytes)
    #expect(verified.manifest.treeSize == 300)
    #expect(verified.manifest.checkpoint == (try storage.latestCheckpoint())?.note)
    #expect(verified.contents.keyrings.first?.name == "orders" && verified.contents.sealedRootKey.current == [1, 2, 3])
    #expect(verified.contents.policyFiles.count == 1 && verified.contents.rootKeyID == "0123456789abcdef")
  }

  @Test func aDamagedStoreIsRefusedAtBackupTimeNamingTheEntry() async throws {
    let (_, storage) = try await backup()
    func backupError() -> BackupError? {
      do {
        _ = try BackupDump.write(
          storage: storage, contents: BackupContents(), origin: signer.name, verifierKey: signer.verifier.verifierKey, createdAt: 1,
          sign: { signer.signature(for: $0) }, sink: { _ in })
        return nil
      } catch { return error as? BackupError }
    }
    // Bytes that no longer hash to the stored leaf hash.
    storage.tamper(entryAt: 150) { $0.canonical[$0.canonical.count - 2] ^= 1 }
    let altered = try #require(backupError())
    #expect(altered.index == 150 && altered.reason.contains("do not hash to its stored leaf hash"))
    // Bytes and leaf hash changed together: the entries no longer make the signed checkpoints' roots.
    storage.tamper(entryAt: 150) { $0.leafHash = MerkleHashing.leafHash($0.canonical) }
    let rewritten = try #require(backupError())
    #expect(rewritten.reason.contains("is not the root the entries make"))
    #expect(rewritten.index.map { $0 >= 150 } == true)
  }

  @Test(arguments: readSizes) func everyAlterationIsRefusedNamingThePart(readBytes: Int) async throws {
    let (bytes, _) = try await backup()
    func refused(_ altered: [UInt8], key: String? = nil) -> BackupError? {
      do {
        _ = try verify(altered, key: key, readBytes: readBytes)
        return nil
      } catch let error as BackupError { return error } catch { return BackupError(part: "?", "\(error)") }
    }
    // An entry's byte (inside entry 42's resource).
    var entry = bytes
    let at = offset(of: Array("\"resource\":\"r42\"".utf8), in: bytes)
    entry[at + 14] = UInt8(ascii: "7")
    let entryError = refused(entry)
    #expect(entryError?.part == "ledger" && entryError?.index == 42, "\(String(describing: entryError))")
    // A stored node's hash: the first node row.
    var node = bytes
    let nodeRow = offset(of: [BackupFormat.RecordKind.row.rawValue, 0, 0, 0, 42, BackupFormat.LedgerRow.node.rawValue], in: bytes)
    node[nodeRow + 5 + 1 + 1 + 8] ^= 1
    #expect(refused(node)?.reason.contains("node") == true)
    // The root of the first aligned block of 256 leaves (level 8), whose hash the reader computes on
    // another core ahead of the in-order walk.
    var blockRoot = bytes
    let blockRow = offset(of: [BackupFormat.RecordKind.row.rawValue, 0, 0, 0, 42, BackupFormat.LedgerRow.node.rawValue, 8] + [UInt8](repeating: 0, count: 8), in: bytes)
    blockRoot[blockRow + 5 + 1 + 1 + 8 + 31] ^= 0x80
    let blockError = refused(blockRoot)
    #expect(blockError?.part == "ledger" && blockError?.index == 255 && blockError?.reason.contains("(8, 0)") == true, "\(String(describing: blockError))")
    // The manifest (its tree size) and the signature.
    var manifest = bytes
    let size = offset(of: Array("\"treeSize\":300".utf8), in: bytes)
    manifest[size + 13] = UInt8(ascii: "1")
    #expect(refused(manifest)?.part == "signature")
    var signature = bytes
    signature[bytes.count - 1] ^= 1
    #expect(refused(signature)?.part == "signature")
    // A keyring's wrapped key (a digest the signed manifest holds).
    var keyring = bytes
    let wrapped = offset(of: Array("\"wrappedKey\":[9,9,9]".utf8), in: bytes)
    keyring[wrapped + 14] = UInt8(ascii: "8")
    #expect(refused(keyring)?.part == "keyrings")
    // Truncated anywhere: at the end, inside the log.
    #expect(refused(Array(bytes.dropLast(10))) != nil)
    let truncated = refused(Array(bytes.prefix(bytes.count / 3)))
    #expect(truncated?.part == "ledger" && truncated?.reason.contains("truncated") == true, "\(String(describing: truncated))")
    // A record header cut short, a record announcing more than the limit, bytes after the signature.
    #expect(refused(Array(bytes.prefix(bytes.count / 3 + 2)))?.reason.contains("truncated") == true)
    let body = BackupFormat.magic.count
    var oversized = bytes
    oversized.replaceSubrange((body + 1)..<(body + 5), with: [0x7f, 0, 0, 0])
    #expect(refused(oversized)?.reason.contains("over the limit") == true)
    #expect(refused(bytes + [0])?.reason == "bytes after the signature")
    #expect(refused(Array("custos-backup/v2\n".utf8) + bytes.dropFirst(body))?.reason == "not a custos-backup/v1 file")
    // Another ledger's key.
    let other = NoteSigner(name: "custos.test/ledger", privateKey: Ed25519.PrivateKey()).verifier.verifierKey
    #expect(refused(bytes, key: other)?.part == "header")
  }
}
