import CustosCrypto
import Testing

@testable import CustosKeys

@Suite struct ShamirTests {
  static func bytes(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }

  /// All subsets of `0..<n` with `k` elements.
  static func subsets(_ n: Int, _ k: Int) -> [[Int]] {
    if k == 0 { return [[]] }
    if n < k { return [] }
    return subsets(n - 1, k) + subsets(n - 1, k - 1).map { $0 + [n - 1] }
  }

  @Test func everyThresholdSubsetRecoversAndNoSmallerOneDoes() throws {
    let secret = SecretBytes.random(count: 32)
    for (n, k) in [(5, 3), (4, 4), (3, 1), (6, 2)] {
      let shares = try Shamir.split(secret, threshold: k, count: n)
      for subset in Self.subsets(n, k) {
        #expect(Self.bytes(try Shamir.combine(subset.map { shares[$0] })) == Self.bytes(secret))
      }
      if k > 1 {
        for subset in Self.subsets(n, k - 1) {
          #expect(Self.bytes(try Shamir.combine(subset.map { shares[$0] })) != Self.bytes(secret), "\(k - 1) of \(n) shares must not recover")
        }
      }
    }
  }

  @Test func fieldArithmeticMatchesTheAESField() {
    // FIPS 197 §4.2: {57} • {83} = {c1}; every non-zero element has an inverse.
    #expect(GF256.multiply(0x57, 0x83) == 0xc1)
    for a in 1...255 { #expect(GF256.multiply(UInt8(a), GF256.inverse(UInt8(a))) == 1) }
  }

  @Test func refusesBadParametersAndInconsistentShares() throws {
    let secret = SecretBytes.random(count: 32)
    #expect(throws: Shamir.Failure.self) { try Shamir.split(secret, threshold: 0, count: 3) }
    #expect(throws: Shamir.Failure.self) { try Shamir.split(secret, threshold: 4, count: 3) }
    #expect(throws: Shamir.Failure.self) { try Shamir.split(secret, threshold: 2, count: 256) }
    let shares = try Shamir.split(secret, threshold: 2, count: 3)
    #expect(throws: Shamir.Failure.self) { try Shamir.combine([shares[0], shares[0]]) }
    #expect(throws: Shamir.Failure.self) { try Shamir.combine([]) }
  }
}
