import CustosCrypto
import Foundation
import Testing

@testable import CustosLedger

/// Blocks hashed ahead (on other cores) must close exactly the nodes, with exactly the hashes, that
/// appending the same leaves one by one closes, wherever the appends start.
@Suite struct AlignedSubtreesTests {
  static func leaf(_ i: Int) -> SHA256Digest { MerkleHashing.leafHash(Array("leaf \(i)".utf8)) }

  @Test(arguments: [0, 1, 100, 255, 256, 300, 511])
  func mergesHashedAheadCloseTheSameNodesAsAppendingOneByOne(start: Int) {
    let end = start + 1500
    var reference = CompactRange()
    var fast = CompactRange()
    for i in 0..<start {
      reference.append(leaf: Self.leaf(i))
      fast.append(leaf: Self.leaf(i))
    }
    let width = AlignedSubtrees.leaves
    let firstBlock = (start + width - 1) / width * width
    var blocks: [Int: AlignedSubtrees] = [:]
    var block = firstBlock
    while block + width <= end {
      let base = block
      blocks[block] = AlignedSubtrees { Self.leaf(base + $0) }
      block += width
    }
    #expect(!blocks.isEmpty)
    var expected: [String] = []
    var got: [String] = []
    for i in start..<end {
      reference.append(leaf: Self.leaf(i)) { expected.append("\($0.level)/\($0.index)=\($1.hex)") }
      let base = i / width * width
      let merged = blocks[base].map { $0.merges(at: i - base) } ?? []
      fast.append(leaf: Self.leaf(i), merged: merged) { got.append("\($0.level)/\($0.index)=\($1.hex)") }
      #expect(fast.size == reference.size)
    }
    #expect(got == expected)
    #expect(fast == reference)
    #expect(fast.rootHash == reference.rootHash)
  }

  @Test func aBlockHoldsOneMergePerInteriorNode() {
    let block = AlignedSubtrees { Self.leaf($0) }
    #expect(block.merges.count == AlignedSubtrees.leaves - 1)
    #expect(AlignedSubtrees.mergeCount(at: AlignedSubtrees.leaves - 1) == Int(AlignedSubtrees.height))
    #expect(block.merges(at: 0).isEmpty)
    #expect(block.merges(at: 1).count == 1)
  }
}
