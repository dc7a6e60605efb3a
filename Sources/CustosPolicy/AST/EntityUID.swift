/// An entity's identity: its type (a `::`-separated path such as `Service` or `Custos::Role`) and id.
public struct EntityUID: Hashable, Sendable, CustomStringConvertible {
  public var type: String
  public var id: String

  public init(type: String, id: String) {
    self.type = type
    self.id = id
  }

  /// Cedar syntax: `Type::"id"`, with the id escaped.
  public var description: String {
    var escaped = ""
    for scalar in id.unicodeScalars {
      switch scalar {
      case "\"": escaped += "\\\""
      case "\\": escaped += "\\\\"
      case "\n": escaped += "\\n"
      case "\r": escaped += "\\r"
      case "\t": escaped += "\\t"
      case "\0": escaped += "\\0"
      default: escaped.unicodeScalars.append(scalar)
      }
    }
    return "\(type)::\"\(escaped)\""
  }
}
