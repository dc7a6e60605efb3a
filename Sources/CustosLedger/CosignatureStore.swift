/// Where the witnesses' cosignatures of the log's checkpoints are kept, so a restarted node still
/// serves them (and puts them in backups and evidence bundles).
public protocol CosignatureStore: Sendable {
  /// Keeps `line` (a note signature line, ending in a newline) by `witness` on the checkpoint of `size`.
  func saveCosignature(size: UInt64, witness: String, line: String) throws

  /// The cosignatures of the newest `sizes` checkpoints that have any, newest first.
  func recentCosignatures(sizes: Int) throws -> [(size: UInt64, witness: String, line: String)]
}
