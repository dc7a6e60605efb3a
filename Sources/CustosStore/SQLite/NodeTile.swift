import CustosLedger

/// Where a Merkle node's hash is stored. Nodes are clustered in tiles of `height` levels — every node
/// at levels `6r + 1 ... 6r + 6` under one node at level `6r + 6` —, so the nodes a proof reads at
/// neighbouring levels share a database page instead of costing one random read each (Tessera's tiles,
/// as rows). The `v4-ledger-node-tiles` migration computes the same key in SQL: change both together,
/// in a new migration.
enum NodeTile {
  static let height: UInt64 = 6

  /// The tile of node `id` (level ≥ 1): the index of its tile's top node.
  static func of(_ id: NodeID) -> Int64 {
    let level = UInt64(id.level)
    let top = height * ((level - 1) / height + 1)
    return Int64(bitPattern: id.index >> (top - level))
  }
}
