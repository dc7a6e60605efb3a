/// A `like` pattern: literal text and `*` wildcards (a literal star is written `\*`).
public struct Pattern: Hashable, Sendable {
  public enum Element: Hashable, Sendable {
    case literal(Unicode.Scalar)
    case wildcard
  }

  public var elements: [Element]

  public init(elements: [Element]) { self.elements = elements }

  /// True when `text` matches the whole pattern.
  public func matches(_ text: String) -> Bool {
    let scalars = Array(text.unicodeScalars)
    // Classic greedy matching with one backtrack point: linear for patterns without nested stars.
    var s = 0, p = 0
    var starP = -1, starS = 0
    while s < scalars.count {
      if p < elements.count, case let .literal(c) = elements[p], c == scalars[s] {
        s += 1
        p += 1
      } else if p < elements.count, elements[p] == .wildcard {
        starP = p
        starS = s
        p += 1
      } else if starP >= 0 {
        p = starP + 1
        starS += 1
        s = starS
      } else {
        return false
      }
    }
    while p < elements.count, elements[p] == .wildcard { p += 1 }
    return p == elements.count
  }
}
