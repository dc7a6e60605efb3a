import CustosProtocol
import Foundation

/// Prints results as text for people or JSON for scripts.
enum Output {
  /// Prints `object` as one line of JSON with sorted keys.
  static func json(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
  }

  static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

  static func entryObject(_ entry: Custos_V1_Entry) -> [String: Any] {
    [
      "index": entry.index, "leaf_hash": hex(entry.leafHash),
      "entry": (try? JSONSerialization.jsonObject(with: entry.canonical)) ?? NSNull(),
      "canonical": String(decoding: entry.canonical, as: UTF8.self),
    ]
  }

  static func printEntry(_ entry: Custos_V1_Entry, format: OutputFormat) {
    switch format {
    case .json: json(entryObject(entry))
    case .text: print(String(decoding: entry.canonical, as: UTF8.self))
    }
  }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
struct ProgressBar {
  let label: String
  let enabled = isatty(STDERR_FILENO) == 1

  func update(_ done: UInt64, of total: UInt64) {
    guard enabled, total > 0 else { return }
    let width = 40
    let filled = Int(Double(done) / Double(total) * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
  }

  func finish() {
    guard enabled else { return }
    FileHandle.standardError.write(Data("\n".utf8))
  }
}
