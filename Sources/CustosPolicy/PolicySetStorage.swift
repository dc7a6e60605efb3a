/// Where a policy set shared by several nodes is kept (the PostgreSQL store): its source files, as a
/// policies directory holds them, under the set's hash. No SQL crosses this seam.
public protocol PolicySetStorage: Sendable {
  /// The active set's hash and files, or nil if none was stored yet.
  func activePolicySet() throws -> (hash: String, files: [(name: String, bytes: [UInt8])])?
  /// Stores `files` as the set `hash` and makes it the active one for every node, in one transaction.
  func activatePolicySet(hash: String, files: [(name: String, bytes: [UInt8])]) throws
}
