import CustosCrypto
import CustosLedger
import Dispatch
import Foundation

/// Reads a backup and checks all of it in one pass — the header's key against the one expected, every
/// entry's canonical form, index, `prev` link and time, every stored node against the tree the entries
/// make, every checkpoint's signature and root, every part's digest, and the manifest's signature —
/// handing each verified group commit to `onBatch` as it goes. Holds three 4 MiB blocks of the file (the
/// one walked, the one scanned, the one read ahead) and the compact range, never the whole log.
public struct BackupReader {
  /// What a verified backup holds besides its log.
  public struct Verified: Sendable {
    public var manifest: BackupManifest
    public var contents: BackupContents
    public var verifier: NoteVerifier
  }

  private let stream: InputStream
  private let readBytes: Int

  /// Reads `path`.
  public init(path: String) throws {
    try self.init(path: path, readBytes: RecordBlockReader.readBytes)
  }

  /// Reads `path`, `readBytes` at a time (tests make blocks tiny to cut records across them).
  init(path: String, readBytes: Int) throws {
    guard FileManager.default.isReadableFile(atPath: path), let stream = InputStream(fileAtPath: path) else {
      throw BackupError(part: "file", "cannot open \(path)")
    }
    stream.open()
    guard stream.streamStatus == .open else {
      throw BackupError(part: "file", "cannot open \(path): \(stream.streamError.map { "\($0)" } ?? "unknown error")")
    }
    self.stream = stream
    self.readBytes = readBytes
  }

  /// Verifies the backup; `verifierKey` (the ledger's, from a trusted source) must be the one it was
  /// signed with; without it the header's key is taken (and returned, to be compared by a person).
  /// With `witnesses`, at least `quorum` of them must have cosigned the backup's checkpoint.
  public mutating func verify(
    verifierKey expected: String?, witnesses: [CosignerKey] = [], quorum: Int = 0, progress: (UInt64, UInt64?) -> Void = { _, _ in },
    onBatch: ((LedgerBatch) throws -> Void)? = nil
  ) throws -> Verified {
    var cursor = try RecordCursor(stream: stream, readBytes: readBytes)
    guard let (kind, headerRange) = try cursor.next(part: "header", checking: { _, _, _ in }), kind == .header,
      let header = try? JSONDecoder().decode(BackupHeader.self, from: Data(cursor.block.bytes[headerRange]))
    else { throw BackupError(part: "header", "missing or malformed") }
    if let expected, expected != header.verifierKey {
      throw BackupError(part: "header", "signed by the ledger key \(header.verifierKey), not the expected \(expected)")
    }
    let verifier: NoteVerifier
    do { verifier = try NoteVerifier(verifierKey: header.verifierKey) } catch {
      throw BackupError(part: "header", "the verifier key does not parse: \(error)")
    }
    var log = LogCheck(verifier: verifier, collectsBatches: onBatch != nil)
    let blocks = cursor.blocks
    // A block's rows are walked in order while the next block's are scanned (and the one after is read):
    // the walk is the one part of the check that cannot be spread over the cores.
    var scannedNotWalked: LogCheck.ScannedRows?
    var nextLeaf: UInt64 = 0
    func deliver(_ batches: [LedgerBatch]) throws {
      for batch in batches { try onBatch?(batch) }
      progress(log.size, nil)
    }
    func check(_ bytes: [UInt8], _ rows: [Range<Int>], readingAhead: Bool) throws {
      let previous = scannedNotWalked
      scannedNotWalked = nil
      var walked: Result<[LedgerBatch], any Error> = .success([])
      let reads = readingAhead ? 1 : 0
      let scanned = LogCheck.scan(bytes, rows: rows, first: nextLeaf, sideJobs: reads + (previous == nil ? 0 : 1)) { job in
        if job < reads { blocks.readNext() } else if let previous { walked = Result { try log.walk(previous) } }
      }
      nextLeaf += UInt64(scanned.entryRows.count)
      try deliver(walked.get())
      scannedNotWalked = scanned
    }
    /// Walks the rows scanned last: before the log's end is looked at, and before an error found further
    /// on is reported (so the first problem in the file is the one named).
    func finishWalking() throws {
      guard let scanned = scannedNotWalked else { return }
      scannedNotWalked = nil
      try deliver(log.walk(scanned))
    }
    func nextRecord(part: String) throws -> (BackupFormat.RecordKind, Range<Int>)? {
      do { return try cursor.next(part: part, checking: check) } catch {
        try finishWalking()
        throw error
      }
    }
    func payload(_ range: Range<Int>) -> [UInt8] { Array(cursor.block.bytes[range]) }
    var contents = BackupContents()
    var digests: [String: BackupManifest.PartDigest] = [:]
    var part: BackupFormat.Part?
    var hash = SHA256()
    var rows: UInt64 = 0
    var seen: [BackupFormat.Part] = []
    func closePart() {
      if let part { digests[part.rawValue] = .init(rows: rows, sha256: hash.finalize().hex) }
      hash = SHA256()
      rows = 0
    }
    while true {
      let next = try nextRecord(part: part?.rawValue ?? "header")
      if next?.0 != .row {
        try cursor.checkPendingRows(check)
        try finishWalking()
      }
      guard let (kind, record) = next else {
        throw BackupError(part: part?.rawValue ?? "file", index: part == .ledger ? log.size : nil, "the file ends early (truncated)")
      }
      switch kind {
      case .part:
        closePart()
        let name = cursor.block.bytes[record]
        guard let next = BackupFormat.Part(rawValue: String(decoding: name, as: UTF8.self)),
          next == BackupFormat.Part.allCases[seen.count]
        else { throw BackupError(part: String(decoding: name.prefix(64), as: UTF8.self), "unexpected part") }
        if part == .ledger { try log.finish() }
        part = next
        seen.append(next)
      case .row:
        guard let current = part else { throw BackupError(part: "file", "a row outside any part") }
        // The log is checked row by row against its signed checkpoints, which authenticate every byte
        // of it; its digest (for other tools) need not be recomputed here. The other parts have only
        // their digest in the signed manifest.
        rows += 1
        if current == .ledger {
          cursor.pendingRows.append(record)
          // The rest of the block's rows in one call: a million rows through this loop one by one spent
          // a sixth of the time in the dynamic exclusivity checks of the variables it shares.
          rows += UInt64(cursor.takeRows())
        } else {
          let row = payload(record)
          hash.update(BackupFormat.recordHeader(.row, length: row.count))
          hash.update(row)
          try contents.add(row, to: current)
        }
      case .manifest:
        closePart()
        if part == .ledger { try log.finish() }
        guard seen == BackupFormat.Part.allCases else { throw BackupError(part: "manifest", "parts are missing") }
        let manifest: BackupManifest
        let signed = payload(record)
        do { manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(signed)) } catch {
          throw BackupError(part: "manifest", "does not decode: \(error)")
        }
        guard let (signatureKind, signatureRange) = try nextRecord(part: "signature"), signatureKind == .signature else {
          throw BackupError(part: "signature", "missing (truncated)")
        }
        guard verifier.publicKey.isValidSignature(payload(signatureRange), for: BackupFormat.signatureContext + signed) else {
          throw BackupError(part: "signature", "the manifest's signature does not verify with \(header.verifierKey)")
        }
        guard try cursor.isAtEndOfFile() else {
          throw BackupError(part: "file", "bytes after the signature")
        }
        for (name, digest) in manifest.parts {
          let matches = name == BackupFormat.Part.ledger.rawValue ? digests[name]?.rows == digest.rows : digests[name] == digest
          guard matches else { throw BackupError(part: name, "its digest does not match the manifest's") }
        }
        guard manifest.parts.count == digests.count, manifest.origin == header.origin, manifest.verifierKey == header.verifierKey,
          manifest.treeSize == log.size, manifest.rootHash == log.root.hex, manifest.checkpoint == log.lastCheckpoint
        else { throw BackupError(part: "manifest", "does not describe the log it signs (size \(log.size))") }
        if !witnesses.isEmpty {
          let body = String(manifest.checkpoint[..<(manifest.checkpoint.range(of: "\n\n")?.lowerBound ?? manifest.checkpoint.endIndex)]) + "\n"
          let lines = manifest.cosignatures.map { Substring($0.trimmingCharacters(in: .newlines)) }
          let cosigned = witnesses.filter { Cosignature.verified(lines: lines, body: body, cosigner: $0) != nil }.count
          guard cosigned >= quorum else {
            throw BackupError(part: "manifest", "\(cosigned) of the given witnesses cosigned its checkpoint, fewer than the quorum of \(quorum)")
          }
        }
        return Verified(manifest: manifest, contents: contents, verifier: verifier)
      case .header, .signature:
        throw BackupError(part: part?.rawValue ?? "file", "a \(kind) record out of place")
      }
    }
  }
}
