import Foundation

/// Loads a JSON vector file copied from ../shared/vectors into this test target's resources.
func loadVectorJSON(_ name: String) throws -> [String: Any] {
  let url = Bundle.module.url(forResource: "Vectors/wycheproof/\(name)", withExtension: nil)!
  return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

func hex(_ s: Any?) -> [UInt8] { Hex.decodeForTests(s as! String) }

enum Hex {
  static func decodeForTests(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.utf8.makeIterator()
    while let a = it.next(), let b = it.next() {
      out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!)
    }
    return out
  }
}

/// Every test case of every group, with its group.
func wycheproofCases(_ file: [String: Any]) -> [(group: [String: Any], test: [String: Any])] {
  (file["testGroups"] as! [[String: Any]]).flatMap { group in (group["tests"] as! [[String: Any]]).map { (group, $0) } }
}
