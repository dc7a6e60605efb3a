import CustosJSON

extension FuzzTargets {
  /// The strict JSON parser (duplicate keys, depth, numbers, UTF-8), and canonical re-encoding of what it accepts.
  static let json = FuzzTarget(name: "json", summary: "strict JSON parser and RFC 8785 canonical encoding") { bytes in
    guard let value = try? JSONParser.parse(bytes) else { return }
    let canonical = CanonicalJSON.encode(value)
    // What it accepted re-encodes to a fixed point.
    guard let again = try? JSONParser.parse(canonical), CanonicalJSON.encode(again) == canonical else {
      fatalError("canonical JSON did not round-trip")
    }
  }
}
