import Foundation

/// Whole records cut in place from a few MiB of a backup file: the records' bytes stay in one buffer,
/// so a reader checks a million rows without a million allocations.
struct RecordBlock: Sendable {
  /// One record: its kind byte (not yet checked) and where its payload lies in `bytes`.
  struct Record: Sendable {
    var kind: UInt8
    var payload: Range<Int>
  }

  /// What follows the block's records.
  enum Ending: Sendable, Equatable {
    /// More of the file.
    case more
    /// The end of the file, right after the last record.
    case endOfFile
    /// The file does not start with the format's magic line.
    case notThisFormat
    /// The file ends inside a record's 5-byte header.
    case endsInsideHeader
    /// The file ends inside a record's payload.
    case endsInsidePayload(kind: UInt8)
    /// A record header announces a payload over `BackupFormat.maximumRecordBytes`.
    case oversized(kind: UInt8, length: Int)
  }

  var bytes: [UInt8]
  var records: [Record]
  var ending: Ending
}

/// Reads a backup file ahead of its checks, a block of whole records at a time, straight into a buffer
/// that the block three back used (so a long file costs no fresh pages); the bytes after the last whole
/// record are carried into the next block.
final class RecordBlockReader: @unchecked Sendable {
  // @unchecked Sendable: `readNext` runs either on the owner's thread or as a side job of a
  // `ConcurrentJobs.fill` while the owner waits for it (no other job of that fill touches the reader),
  // and the owner calls `takeNext` and `recycle` only after that.
  private let stream: InputStream
  private let magic: [UInt8]
  private let readBytes: Int
  private var carry: [UInt8] = []
  private var startsFile = true
  /// Buffers of blocks no longer read, oldest first. A buffer is reused only once a newer one has been
  /// handed back too: a reader still walks the block before the current one.
  private var spares: [[UInt8]] = []
  private var next: Result<RecordBlock, any Error>?

  /// Bytes read from the file at a time, by default.
  static let readBytes = 4 << 20

  /// Reads from `stream`, which is open.
  init(stream: InputStream, magic: [UInt8], readBytes: Int = RecordBlockReader.readBytes) {
    self.stream = stream
    self.magic = magic
    self.readBytes = readBytes
  }

  /// The block read by the last `readNext` (reading it now if none was).
  func takeNext() throws -> RecordBlock {
    if next == nil { readNext() }
    defer { next = nil }
    return try next!.get()
  }

  /// Hands back the bytes of a block no longer used, to read a later block into.
  func recycle(_ bytes: inout [UInt8]) {
    spares.append(bytes)
    bytes = []
  }

  /// Reads the next block: at least one whole record, or what ends the file.
  func readNext() {
    next = Result {
      var bytes: [UInt8] = spares.count >= 2 ? spares.removeFirst() : []
      var filled = carry.count
      if bytes.count < filled { bytes = [UInt8](repeating: 0, count: filled) }
      bytes.replaceSubrange(0..<filled, with: carry)
      carry = []
      var start = startsFile ? magic.count : 0
      while true {
        // The buffer stays `readBytes` long unless one record is longer.
        let wanted = max(readBytes - filled, filled > start ? Self.bytesMissing(in: bytes[start..<filled]) : 0, 1)
        if bytes.count < filled + wanted { bytes += [UInt8](repeating: 0, count: filled + wanted - bytes.count) }
        let got = bytes.withUnsafeMutableBufferPointer { stream.read($0.baseAddress! + filled, maxLength: wanted) }
        guard got >= 0 else {
          throw BackupError(part: "file", "cannot be read: \(stream.streamError.map { "\($0)" } ?? "read error")")
        }
        filled += got
        let atEnd = got == 0
        if startsFile {
          guard filled >= magic.count || atEnd else { continue }
          guard bytes[0..<min(filled, magic.count)].elementsEqual(magic) else {
            return RecordBlock(bytes: [], records: [], ending: .notThisFormat)
          }
          startsFile = false
        }
        var block = Self.cut(bytes, in: start..<filled, atEnd: atEnd)
        if block.records.isEmpty, block.ending == .more { continue }
        if block.ending == .more, let last = block.records.last {
          carry = Array(bytes[last.payload.upperBound..<filled])
        }
        block.bytes = bytes
        start = 0
        return block
      }
    }
  }

  /// The bytes still missing to complete the record that `bytes` starts with.
  private static func bytesMissing(in bytes: ArraySlice<UInt8>) -> Int {
    guard bytes.count >= 5 else { return 5 - bytes.count }
    return max(0, min(length(at: bytes.startIndex, in: bytes), BackupFormat.maximumRecordBytes) + 5 - bytes.count)
  }

  /// The payload length in the record header at `offset` (a big-endian u32 after the kind byte).
  private static func length(at offset: Int, in bytes: ArraySlice<UInt8>) -> Int {
    Int(bytes[offset + 1]) << 24 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
  }

  /// The whole records of `bytes[range]`, and what follows them.
  static func cut(_ bytes: [UInt8], in range: Range<Int>, atEnd: Bool) -> RecordBlock {
    var records: [RecordBlock.Record] = []
    var offset = range.lowerBound
    while true {
      let left = range.upperBound - offset
      guard left >= 5 else {
        let ending: RecordBlock.Ending = !atEnd ? .more : left == 0 ? .endOfFile : .endsInsideHeader
        return RecordBlock(bytes: [], records: records, ending: ending)
      }
      let kind = bytes[offset]
      let length = length(at: offset, in: bytes[...])
      guard length <= BackupFormat.maximumRecordBytes else {
        return RecordBlock(bytes: [], records: records, ending: .oversized(kind: kind, length: length))
      }
      guard left - 5 >= length else {
        return RecordBlock(bytes: [], records: records, ending: atEnd ? .endsInsidePayload(kind: kind) : .more)
      }
      records.append(.init(kind: kind, payload: (offset + 5)..<(offset + 5 + length)))
      offset += 5 + length
    }
  }
}

/// The records of a backup file in order, block by block, with the ledger rows of the current block
/// that wait to be checked together (they must be, before the block is replaced).
struct RecordCursor {
  let blocks: RecordBlockReader
  private(set) var block: RecordBlock
  private var position = 0
  /// Rows of `block` not yet checked.
  var pendingRows: [Range<Int>] = []

  /// What checks pending rows: the block's bytes, the rows, and whether to read the next block beside.
  typealias Check = ([UInt8], [Range<Int>], Bool) throws -> Void

  init(stream: InputStream, readBytes: Int) throws {
    blocks = RecordBlockReader(stream: stream, magic: BackupFormat.magic, readBytes: readBytes)
    block = try blocks.takeNext()
    guard block.ending != .notThisFormat else { throw BackupError(part: "file", "not a custos-backup/v1 file") }
  }

  /// The next record (nil at the end of the file). At the end of a block its pending rows are checked
  /// while the next block is read.
  mutating func next(part: String, checking check: Check) throws -> (BackupFormat.RecordKind, Range<Int>)? {
    let malformed = BackupError(part: part, "a malformed record (truncated or altered)")
    while position == block.records.count {
      switch block.ending {
      case .more:
        if pendingRows.isEmpty { blocks.readNext() } else { try checkPendingRows(check, readingAhead: true) }
        try moveToNextBlock()
      case .endOfFile: return nil
      case .notThisFormat, .endsInsideHeader: throw malformed
      case let .endsInsidePayload(kind):
        guard BackupFormat.RecordKind(rawValue: kind) != nil else { throw malformed }
        throw BackupError(part: part, "the file ends inside a record (truncated)")
      case let .oversized(kind, length):
        guard BackupFormat.RecordKind(rawValue: kind) != nil else { throw malformed }
        throw BackupError(part: part, "a record of \(length) bytes is over the limit")
      }
    }
    let record = block.records[position]
    position += 1
    guard let kind = BackupFormat.RecordKind(rawValue: record.kind) else { throw malformed }
    return (kind, record.payload)
  }

  /// Takes the row records that follow in this block, up to the first record of another kind, into
  /// `pendingRows`; returns how many.
  mutating func takeRows() -> Int {
    let row = BackupFormat.RecordKind.row.rawValue
    let start = position
    while position < block.records.count, block.records[position].kind == row {
      pendingRows.append(block.records[position].payload)
      position += 1
    }
    return position - start
  }

  /// Checks the pending rows now.
  mutating func checkPendingRows(_ check: Check, readingAhead: Bool = false) throws {
    guard !pendingRows.isEmpty else { return }
    try check(block.bytes, pendingRows, readingAhead)
    pendingRows.removeAll(keepingCapacity: true)
  }

  /// Whether no byte follows the last record taken.
  mutating func isAtEndOfFile() throws -> Bool {
    while position == block.records.count, block.ending == .more { try moveToNextBlock() }
    return position == block.records.count && block.ending == .endOfFile
  }

  private mutating func moveToNextBlock() throws {
    var used = try blocks.takeNext()
    swap(&used, &block)
    blocks.recycle(&used.bytes)
    position = 0
  }
}
