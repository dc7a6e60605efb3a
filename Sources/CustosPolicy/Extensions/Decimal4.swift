/// Cedar's `decimal` extension value: a signed fixed-point number with four fractional digits,
/// stored as an Int64 count of 1/10000ths.
public struct Decimal4: Hashable, Sendable, Comparable, CustomStringConvertible {
  public let scaled: Int64

  /// Parses `-?digits.digits` with one to four fractional digits; nil when malformed or out of range.
  public init?(_ text: String) {
    var rest = Substring(text)
    let negative = rest.first == "-"
    if negative { rest = rest.dropFirst() }
    let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, (1...4).contains(parts[1].count),
      (parts[0] + parts[1]).allSatisfy({ $0.isASCII && $0.isNumber })
    else { return nil }
    var value: Int64 = 0
    for digit in parts[0] + parts[1] + String(repeating: "0", count: 4 - parts[1].count) {
      let (times10, o1) = value.multipliedReportingOverflow(by: 10)
      let (next, o2) = negative
        ? times10.subtractingReportingOverflow(Int64(digit.wholeNumberValue!))
        : times10.addingReportingOverflow(Int64(digit.wholeNumberValue!))
      guard !o1, !o2 else { return nil }
      value = next
    }
    scaled = value
  }

  public static func < (a: Decimal4, b: Decimal4) -> Bool { a.scaled < b.scaled }

  public var description: String {
    let magnitude = scaled.magnitude
    let fraction = String(magnitude % 10000)
    return "\(scaled < 0 ? "-" : "")\(magnitude / 10000).\(String(repeating: "0", count: 4 - fraction.count))\(fraction)"
  }
}
