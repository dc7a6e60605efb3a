import CustosCrypto
import Foundation
import Testing

@testable import CustosLedger

/// Every file of the transparency-dev Merkle test data (copied from ../shared/vectors/merkle).
@Suite struct MerkleVectorTests {
  static let root = Bundle.module.url(forResource: "Vectors/merkle/testdata", withExtension: nil)!

  static func files(_ kind: String) -> [URL] {
    let enumerator = FileManager.default.enumerator(at: root.appendingPathComponent(kind), includingPropertiesForKeys: nil)!
    return enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
  }

  static func digest(_ value: Any?) -> SHA256Digest? {
    guard let text = value as? String, let data = Data(base64Encoded: text) else { return nil }
    return SHA256Digest(bytes: [UInt8](data))
  }

  static func bytes(_ value: Any?) -> [UInt8]? {
    guard let text = value as? String, let data = Data(base64Encoded: text) else { return nil }
    return [UInt8](data)
  }

  static func proof(_ value: Any?) -> [SHA256Digest]? {
    let items = (value as? [String]) ?? []
    let digests = items.compactMap { digest($0) }
    return digests.count == items.count ? digests : nil
  }

  @Test func inclusionProofsVerifyExactlyWhenExpected() throws {
    let files = Self.files("inclusion")
    #expect(files.count > 50)
    for file in files {
      let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
      let wantErr = json["wantErr"] as! Bool
      var accepted = false
      if let root = Self.digest(json["root"]), let leaf = Self.digest(json["leafHash"]), let proof = Self.proof(json["proof"]),
        let index = json["leafIdx"] as? Int, let size = json["treeSize"] as? Int, index >= 0, size >= 0
      {
        accepted = (try? ProofVerification.verifyInclusion(
          index: UInt64(index), size: UInt64(size), leafHash: leaf, proof: proof, root: root)) != nil
      }
      #expect(accepted == !wantErr, "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent)")
    }
  }

  @Test func consistencyProofsVerifyExactlyWhenExpected() throws {
    let files = Self.files("consistency")
    #expect(files.count > 50)
    for file in files {
      let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
      let wantErr = json["wantErr"] as! Bool
      var accepted = false
      if let r1 = Self.bytes(json["root1"]), let r2 = Self.bytes(json["root2"]), let proof = Self.proof(json["proof"]),
        let s1 = json["size1"] as? Int, let s2 = json["size2"] as? Int, s1 >= 0, s2 >= 0
      {
        accepted = (try? ProofVerification.verifyConsistency(
          oldSize: UInt64(s1), newSize: UInt64(s2), proof: proof, oldRoot: r1, newRoot: r2)) != nil
      }
      #expect(accepted == !wantErr, "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent)")
    }
  }

  /// The reference leaves of testonly/constants.go.
  static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    .map { CustosCrypto.Hex.decode($0)! }
  static let roots = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ]

  @Test func compactRangeReproducesTheReferenceRoots() {
    var range = CompactRange()
    #expect(range.rootHash.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    for (i, leaf) in Self.leaves.enumerated() {
      range.append(leaf: MerkleHashing.leafHash(leaf))
      #expect(range.rootHash.hex == Self.roots[i], "size \(i + 1)")
    }
  }

  /// Proofs built from stored subtree hashes reproduce the vector files' happy paths.
  @Test func generatedProofsMatchTheVectorHappyPaths() throws {
    var nodes: [NodeID: SHA256Digest] = [:]
    var range = CompactRange()
    for (i, leaf) in Self.leaves.enumerated() {
      let hash = MerkleHashing.leafHash(leaf)
      nodes[NodeID(level: 0, index: UInt64(i))] = hash
      range.append(leaf: hash) { nodes[$0] = $1 }
    }
    var checked = 0
    for file in Self.files("inclusion") + Self.files("consistency") where file.lastPathComponent == "happy-path.json" {
      let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
      let expected = Self.proof(json["proof"])!
      if let index = json["leafIdx"] as? Int, let size = json["treeSize"] as? Int, size <= 8 {
        let plan = MerkleProofs.inclusionPlan(index: UInt64(index), size: UInt64(size))
        #expect(try MerkleProofs.resolve(plan, hashes: nodes) == expected, "\(file.path)")
        checked += 1
      } else if let s1 = json["size1"] as? Int, let s2 = json["size2"] as? Int, s2 <= 8 {
        let plan = MerkleProofs.consistencyPlan(oldSize: UInt64(s1), newSize: UInt64(s2))
        #expect(try MerkleProofs.resolve(plan, hashes: nodes) == expected, "\(file.path)")
        checked += 1
      }
    }
    #expect(checked >= 8)
  }

  /// Exhaustive cross-check on sizes 1...70: every generated proof verifies, every tampered one fails.
  @Test func everyGeneratedProofVerifiesForSmallTrees() throws {
    var nodes: [NodeID: SHA256Digest] = [:]
    var range = CompactRange()
    var roots: [SHA256Digest] = [range.rootHash]
    for i in 0..<70 {
      let hash = MerkleHashing.leafHash([UInt8(i), UInt8(i >> 8)])
      nodes[NodeID(level: 0, index: UInt64(i))] = hash
      range.append(leaf: hash) { nodes[$0] = $1 }
      roots.append(range.rootHash)
    }
    for size in 1...70 {
      let rootPlan = try MerkleProofs.resolve([0..<UInt64(size)], hashes: nodes)
      #expect(rootPlan[0] == roots[size])
      for index in 0..<size {
        let proof = try MerkleProofs.resolve(MerkleProofs.inclusionPlan(index: UInt64(index), size: UInt64(size)), hashes: nodes)
        let leaf = nodes[NodeID(level: 0, index: UInt64(index))]!
        try ProofVerification.verifyInclusion(index: UInt64(index), size: UInt64(size), leafHash: leaf, proof: proof, root: roots[size])
        if !proof.isEmpty {
          var bad = proof
          bad[0] = MerkleHashing.leafHash([0xff])
          #expect(throws: ProofVerification.Failure.self) {
            try ProofVerification.verifyInclusion(index: UInt64(index), size: UInt64(size), leafHash: leaf, proof: bad, root: roots[size])
          }
        }
      }
      for old in 1...size {
        let proof = try MerkleProofs.resolve(MerkleProofs.consistencyPlan(oldSize: UInt64(old), newSize: UInt64(size)), hashes: nodes)
        try ProofVerification.verifyConsistency(oldSize: UInt64(old), newSize: UInt64(size), proof: proof, oldRoot: roots[old], newRoot: roots[size])
      }
    }
  }

  @Test func decomposeCoversRangesWithAlignedPerfectSubtrees() {
    for begin in 0..<40 {
      for end in begin..<80 {
        let ids = NodeID.decompose(UInt64(begin), UInt64(end))
        var cursor = UInt64(begin)
        for id in ids {
          #expect(id.leafRange.lowerBound == cursor)
          cursor = id.leafRange.upperBound
        }
        #expect(cursor == UInt64(end))
      }
    }
  }
}
