import CustosCrypto

/// A Shamir share of the unseal key as operators handle it:
/// `custos-share-<set>-<x>-<64 hex digits>-<8 hex checksum>`.
///
/// The checksum (SHA-256 over the rest) catches a mistyped share before it is combined; the set id
/// catches a share of another root key.
public struct UnsealShare: Sendable {
  let setID: String
  let share: Shamir.Share

  init(setID: String, share: Shamir.Share) {
    self.setID = setID
    self.share = share
  }

  /// The printable form, shown once at `operator init`.
  public var text: String {
    let body = "custos-share-\(setID)-\(share.x)-" + share.y.withUnsafeBytes { Hex.encode($0) }
    return body + "-" + UnsealShare.checksum(body)
  }

  private static func checksum(_ body: String) -> String { String(SHA256.hash(Array(body.utf8)).hex.prefix(8)) }

  /// Parses a share typed or pasted by an operator (surrounding whitespace ignored).
  public init(parsing raw: String) throws(KeyError) {
    let text = raw.trimmingWhitespace()
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 6, parts[0] == "custos", parts[1] == "share" else {
      throw .invalidShare("not a Custos unseal share (expected custos-share-<set>-<n>-<key>-<checksum>)")
    }
    let body = parts[0..<5].joined(separator: "-")
    guard ConstantTime.equals(Array(UnsealShare.checksum(body).utf8), Array(parts[5].utf8)) else {
      throw .invalidShare("the share's checksum does not match: it was mistyped or corrupted")
    }
    guard let x = UInt8(parts[3]), x != 0 else { throw .invalidShare("the share number is not 1-255") }
    guard var y = Hex.decode(parts[4]), y.count == UnsealKey.length else {
      throw .invalidShare("the share's key part is not \(UnsealKey.length * 2) hex digits")
    }
    setID = String(parts[2])
    share = Shamir.Share(x: x, y: SecretBytes(consuming: &y))
  }
}

extension String {
  func trimmingWhitespace() -> String {
    let scalars = unicodeScalars
    guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[start...end])
  }
}
