/// A position in policy source text: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
  public var line: Int
  public var column: Int

  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }

  public var description: String { "\(line):\(column)" }
}

/// A policy text that does not parse, with where and why.
public struct PolicyParseError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file the text came from, when known.
  public var file: String?
  public var location: SourceLocation
  public var message: String

  public init(file: String? = nil, location: SourceLocation, message: String) {
    self.file = file
    self.location = location
    self.message = message
  }

  public var description: String { "\(file.map { $0 + ":" } ?? "")\(location): \(message)" }
}
