/// The host part of a gRPC peer description, without the port: what brute-force limits count by.
enum PeerAddress {
  /// `ipv4:10.0.0.7:51234` → `10.0.0.7`, `ipv6:[::1]:51234` → `::1`, `unix:/run/c.sock` → `unix:/run/c.sock`.
  static func host(of peer: String) -> String {
    if peer.hasPrefix("ipv4:") {
      let rest = peer.dropFirst(5)
      return String(rest.lastIndex(of: ":").map { rest[..<$0] } ?? rest)
    }
    if peer.hasPrefix("ipv6:") {
      let rest = peer.dropFirst(5)
      if rest.first == "[", let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
      return String(rest)
    }
    return peer
  }
}
