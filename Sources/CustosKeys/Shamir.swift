import CustosCrypto

/// Shamir's secret sharing over GF(2^8) (the AES field, reduction polynomial x^8+x^4+x^3+x+1).
///
/// Each byte of the secret is the constant term of its own random polynomial of degree `threshold - 1`;
/// share `x` holds that polynomial's value at `x` for every byte. Any `threshold` shares recover the
/// secret by Lagrange interpolation at 0; fewer reveal nothing about it.
public enum Shamir {
  /// One share: its x-coordinate (1...255) and one y-byte per secret byte.
  public struct Share: Sendable {
    public let x: UInt8
    public let y: SecretBytes

    public init(x: UInt8, y: SecretBytes) {
      self.x = x
      self.y = y
    }
  }

  /// Why shares could not be made or combined.
  public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidParameters(String)
    case inconsistentShares(String)

    public var description: String {
      switch self {
      case let .invalidParameters(why), let .inconsistentShares(why): return why
      }
    }
  }

  /// Splits `secret` into `count` shares, any `threshold` of which recover it.
  public static func split(_ secret: SecretBytes, threshold: Int, count: Int) throws(Failure) -> [Share] {
    guard (1...255).contains(count) else { throw .invalidParameters("shares must be between 1 and 255, got \(count)") }
    guard (1...count).contains(threshold) else {
      throw .invalidParameters("threshold must be between 1 and the number of shares (\(count)), got \(threshold)")
    }
    guard secret.count > 0 else { throw .invalidParameters("the secret is empty") }
    // coefficients[i * (threshold - 1) + j] is the x^(j+1) coefficient of byte i's polynomial.
    var coefficients = SecureRandom.bytes(secret.count * (threshold - 1))
    defer { SecretBytes.wipe(&coefficients) }
    var shares: [Share] = []
    var y = [UInt8](repeating: 0, count: secret.count)
    defer { SecretBytes.wipe(&y) }
    secret.withUnsafeBytes { secretBytes in
      for x in 1...UInt8(count) {
        for i in 0..<secret.count {
          // Horner's rule from the highest coefficient down to the secret byte.
          var value: UInt8 = 0
          for j in stride(from: threshold - 2, through: 0, by: -1) {
            value = GF256.multiply(value, x) ^ coefficients[i * (threshold - 1) + j]
          }
          y[i] = GF256.multiply(value, x) ^ secretBytes[i]
        }
        shares.append(Share(x: x, y: SecretBytes(copying: y)))
      }
    }
    return shares
  }

  /// Recovers the secret from shares with distinct x-coordinates. With fewer than the threshold used to
  /// split, the result is a wrong secret (Shamir cannot tell): callers check it against a key check value.
  public static func combine(_ shares: [Share]) throws(Failure) -> SecretBytes {
    guard let first = shares.first else { throw .inconsistentShares("no shares given") }
    let length = first.y.count
    guard shares.allSatisfy({ $0.y.count == length }) else { throw .inconsistentShares("shares have different lengths") }
    guard shares.allSatisfy({ $0.x != 0 }) else { throw .inconsistentShares("a share has x-coordinate 0") }
    guard Set(shares.map(\.x)).count == shares.count else { throw .inconsistentShares("the same share was given twice") }
    // Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_m - x_j); subtraction is XOR in GF(2^8).
    let basis = shares.indices.map { j -> UInt8 in
      var numerator: UInt8 = 1
      var denominator: UInt8 = 1
      for m in shares.indices where m != j {
        numerator = GF256.multiply(numerator, shares[m].x)
        denominator = GF256.multiply(denominator, shares[m].x ^ shares[j].x)
      }
      return GF256.multiply(numerator, GF256.inverse(denominator))
    }
    var secret = [UInt8](repeating: 0, count: length)
    for (j, share) in shares.enumerated() {
      share.y.withUnsafeBytes { y in
        for i in 0..<length { secret[i] ^= GF256.multiply(basis[j], y[i]) }
      }
    }
    return SecretBytes(consuming: &secret)
  }
}

/// Arithmetic in GF(2^8) without table lookups, so timing does not depend on secret bytes.
enum GF256 {
  static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
    var a = a
    var b = b
    var product: UInt8 = 0
    for _ in 0..<8 {
      product ^= a & (0 &- (b & 1))
      let carry = 0 &- (a >> 7)
      a = (a << 1) ^ (0x1b & carry)
      b >>= 1
    }
    return product
  }

  /// a^254 = a^-1 for a != 0 (and 0 for 0), by square-and-multiply over a fixed exponent.
  static func inverse(_ a: UInt8) -> UInt8 {
    var result: UInt8 = 1
    var base = a
    var exponent = 254
    while exponent > 0 {
      if exponent & 1 == 1 { result = multiply(result, base) }
      base = multiply(base, base)
      exponent >>= 1
    }
    return result
  }
}
