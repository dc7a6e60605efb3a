import CustosTokens
import Foundation

/// A list of strings as both stores keep it in one text column: a JSON array.
enum StoredList {
  static func encode(_ list: [String]) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: list)) ?? Data("[]".utf8), as: UTF8.self)
  }

  static func decode(_ text: String) -> [String] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] ?? []
  }
}

/// A revocation's target as both stores key it: (kind, value).
enum StoredRevocationTarget {
  static func encode(_ target: Revocation.Target) -> (kind: String, value: String) {
    switch target {
    case let .token(jti): return ("jti", jti)
    case let .client(id): return ("client", id)
    }
  }

  /// Nil for a kind this version does not know (written by a newer one): it is skipped, not misread.
  static func decode(kind: String, value: String) -> Revocation.Target? {
    switch kind {
    case "jti": return .token(jti: value)
    case "client": return .client(id: value)
    default: return nil
    }
  }
}
