import CustosCrypto
import CustosJSON
import CustosTokens

extension FuzzTargets {
  /// Bearer tokens as every authenticated call presents them: the JWS compact parser, then full
  /// verification against a fixed key. A second pass re-signs the fuzzed header and payload with that
  /// key, so the claim checks behind the signature are reached too.
  static let jwt = FuzzTarget(name: "jwt", summary: "JWS/JWT parser and access-token verification", prepare: FuzzKeys.load) { bytes in
    let token = String(fuzzInput: bytes)
    let keys = ["fuzz-kid": FuzzKeys.tokenKey.publicKey]
    let verifier = TokenVerifier(issuer: "custos", audience: "custos", skewSeconds: 60)
    _ = try? verifier.verify(token, keys: keys, now: 1_800_000_000_000_000_000)
    guard let parts = try? JWS.parse(token) else { return }
    let header = CanonicalJSON.encode(.object(parts.header))
    let resigned = JWS.sign(header: header, payload: parts.payload, key: FuzzKeys.tokenKey)
    _ = try? verifier.verify(resigned, keys: keys, now: 1_800_000_000_000_000_000)
  }
}
