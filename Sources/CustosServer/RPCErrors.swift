import CustosKeys
import CustosLedger
import GRPCCore

/// The one place domain errors become gRPC statuses. Messages say what was wrong; none echo secrets.
enum RPCErrors {
  static func map(_ error: any Error) -> RPCError {
    switch error {
    case let error as RPCError: return error
    case let error as LedgerError:
      switch error {
      case let .invalidArgument(why): return RPCError(code: .invalidArgument, message: why)
      case let .outOfRange(why): return RPCError(code: .outOfRange, message: why)
      case let .unavailable(why): return RPCError(code: .unavailable, message: why)
      case .corrupted: return RPCError(code: .dataLoss, message: error.description)
      }
    case let error as KeyError: return RPCError(code: code(of: error), message: error.description)
    default:
      return RPCError(code: .unavailable, message: "storage failure: \(error)")
    }
  }

  static func code(of error: KeyError) -> RPCError.Code {
    switch error {
    case .sealed, .storage: return .unavailable
    case .notInitialized, .alreadyInitialized, .failedPrecondition: return .failedPrecondition
    case .unsealRefused: return .permissionDenied
    case .invalidShare, .invalidArgument, .decryptionFailed: return .invalidArgument
    case .sealedFileInvalid, .corrupted: return .dataLoss
    case .keyringNotFound: return .notFound
    case .keyringExists: return .alreadyExists
    }
  }

  /// Runs `body`, converting any error with `map`.
  static func mapping<T>(_ body: () throws -> T) throws(RPCError) -> T {
    do { return try body() } catch { throw map(error) }
  }

  /// Runs `body`, converting any error with `map`.
  static func mapping<T>(_ body: () async throws -> T) async throws(RPCError) -> T {
    do { return try await body() } catch { throw map(error) }
  }
}
