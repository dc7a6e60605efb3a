import GRPCCore

/// A call that did not succeed: the gRPC status code and Custos's message (which names the field, the
/// key or the limit), where it was last tried, and after how many attempts.
public struct CustosClientError: Error, Sendable, CustomStringConvertible {
  public let code: RPCError.Code
  public let message: String
  /// The node that gave the last answer, if one did.
  public let endpoint: String?
  public let attempts: Int

  public init(code: RPCError.Code, message: String, endpoint: String? = nil, attempts: Int = 0) {
    self.code = code
    self.message = message
    self.endpoint = endpoint
    self.attempts = attempts
  }

  init(_ error: RPCError, endpoint: String?, attempts: Int) {
    self.init(code: error.code, message: error.message, endpoint: endpoint, attempts: attempts)
  }

  public var description: String {
    var text = "\(code): \(message)"
    if let endpoint { text += " (\(endpoint)" + (attempts > 1 ? ", after \(attempts) attempts)" : ")") }
    return text
  }
}
