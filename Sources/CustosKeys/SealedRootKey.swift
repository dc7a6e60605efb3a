import CustosCrypto
import CustosJSON

/// The root key as it lives on disk: AES-256-GCM under an unseal key, with everything needed to get the
/// unseal key back (Argon2id parameters and salt, or the Shamir threshold) authenticated as AAD.
///
/// The file is canonical JSON:
/// `{"ciphertext","format","method","nonce","root_key_id","tag","unseal_check", "argon2id"|"shamir"}`.
public struct SealedRootKey: Sendable, Equatable {
  static let format = "custos-sealed-root/v1"

  /// How the unseal key is obtained.
  public enum Method: Sendable, Equatable {
    /// Argon2id over the operator's passphrase.
    case passphrase(Argon2id.Parameters, salt: [UInt8])
    /// Shamir shares of a random unseal key; `setID` ties shares to this file.
    case shamir(threshold: Int, shares: Int, setID: String)
  }

  public let method: Method
  /// The root key's fingerprint, readable without unsealing.
  public let rootKeyID: String
  let unsealCheck: String
  let nonce: [UInt8]
  let sealed: AESGCM.SealedBox

  /// Seals `root` under `unsealKey`.
  static func seal(_ root: RootKey, under unsealKey: UnsealKey, method: Method) throws(KeyError) -> SealedRootKey {
    let header = header(method: method, rootKeyID: root.id, unsealCheck: unsealKey.checkValue)
    let nonce = SecureRandom.bytes(AESGCM.standardNonceLength)
    do {
      let box = try unsealKey.secret.withUnsafeBytes { key in
        try root.secret.withUnsafeBytes { plaintext in
          try AESGCM.seal(plaintext, key: key, nonce: nonce, associatedData: CanonicalJSON.encode(.object(header)))
        }
      }
      return SealedRootKey(method: method, rootKeyID: root.id, unsealCheck: unsealKey.checkValue, nonce: nonce, sealed: box)
    } catch {
      throw .corrupted("sealing the root key failed: \(error)")
    }
  }

  /// Opens the sealed root key. Distinguishes a wrong unseal key (check value differs) from a file whose
  /// ciphertext or header was altered (check value matches, tag does not).
  func open(with unsealKey: UnsealKey) throws(KeyError) -> RootKey {
    guard ConstantTime.equals(Array(unsealKey.checkValue.utf8), Array(unsealCheck.utf8)) else {
      switch method {
      case .passphrase: throw .unsealRefused("the passphrase does not unseal the root key")
      case .shamir: throw .unsealRefused("the shares do not unseal the root key (a share from another set, or mistyped)")
      }
    }
    let header = SealedRootKey.header(method: method, rootKeyID: rootKeyID, unsealCheck: unsealCheck)
    let secret: SecretBytes
    do {
      secret = try unsealKey.secret.withUnsafeBytes { key in
        try AESGCM.open(sealed, key: key, nonce: nonce, associatedData: CanonicalJSON.encode(.object(header)))
      }
    } catch {
      throw .sealedFileInvalid("the sealed root key does not authenticate: the file was altered")
    }
    guard secret.count == RootKey.length else { throw .sealedFileInvalid("the sealed root key has the wrong length") }
    let root = RootKey(secret: secret)
    guard root.id == rootKeyID else { throw .sealedFileInvalid("the sealed root key does not match its recorded id") }
    return root
  }

  /// Derives the unseal key from a passphrase (blocks for the Argon2id cost; run it off the cooperative pool).
  func unsealKey(passphrase: SecretBytes) throws(KeyError) -> UnsealKey {
    guard case let .passphrase(parameters, salt) = method else {
      throw .invalidArgument("this root key is sealed with Shamir shares, not a passphrase: unseal it with shares")
    }
    return try SealedRootKey.deriveUnsealKey(passphrase: passphrase, salt: salt, parameters: parameters)
  }

  static func deriveUnsealKey(passphrase: SecretBytes, salt: [UInt8], parameters: Argon2id.Parameters) throws(KeyError) -> UnsealKey {
    do {
      let secret = try passphrase.withUnsafeBytes { password in
        try Argon2id.deriveKey(password: password, salt: salt, parameters: parameters, outputLength: UnsealKey.length)
      }
      return UnsealKey(secret: secret)
    } catch {
      throw .invalidArgument("Argon2id failed with the sealed file's parameters: \(error)")
    }
  }

  // MARK: Encoding

  private static func header(method: Method, rootKeyID: String, unsealCheck: String) -> [String: JSONValue] {
    var header: [String: JSONValue] = [
      "format": .string(format), "root_key_id": .string(rootKeyID), "unseal_check": .string(unsealCheck),
    ]
    switch method {
    case let .passphrase(parameters, salt):
      header["method"] = .string("passphrase")
      header["argon2id"] = .object([
        "m": .integer(Int64(parameters.memoryKiB)), "t": .integer(Int64(parameters.iterations)),
        "p": .integer(Int64(parameters.parallelism)), "salt": .string(Base64.encode(salt)),
      ])
    case let .shamir(threshold, shares, setID):
      header["method"] = .string("shamir")
      header["shamir"] = .object([
        "threshold": .integer(Int64(threshold)), "shares": .integer(Int64(shares)), "set": .string(setID),
      ])
    }
    return header
  }

  /// The file's bytes: canonical JSON and a newline.
  public func encoded() -> [UInt8] {
    var object = SealedRootKey.header(method: method, rootKeyID: rootKeyID, unsealCheck: unsealCheck)
    object["nonce"] = .string(Base64.encode(nonce))
    object["ciphertext"] = .string(Base64.encode(sealed.ciphertext))
    object["tag"] = .string(Base64.encode(sealed.tag))
    return CanonicalJSON.encode(.object(object)) + [0x0a]
  }

  /// Parses a sealed root-key file; `sealedFileInvalid` names what is wrong.
  public init(decoding bytes: [UInt8]) throws(KeyError) {
    func invalid(_ why: String) -> KeyError { .sealedFileInvalid("the sealed root-key file is invalid: \(why)") }
    let value: JSONValue
    do { value = try JSONParser.parse(bytes) } catch { throw invalid("not JSON (\(error))") }
    guard let object = value.objectValue else { throw invalid("not a JSON object") }
    func string(_ key: String, in object: [String: JSONValue]) throws(KeyError) -> String {
      guard let value = object[key]?.stringValue else { throw invalid("\"\(key)\" is missing or not a string") }
      return value
    }
    func base64(_ key: String) throws(KeyError) -> [UInt8] {
      guard let bytes = Base64.decode(try string(key, in: object)) else { throw invalid("\"\(key)\" is not base64") }
      return bytes
    }
    func integer(_ key: String, in object: [String: JSONValue], _ range: ClosedRange<Int64>) throws(KeyError) -> Int64 {
      guard let value = object[key]?.integerValue, range.contains(value) else {
        throw invalid("\"\(key)\" is missing or outside \(range.lowerBound)...\(range.upperBound)")
      }
      return value
    }
    guard try string("format", in: object) == SealedRootKey.format else {
      throw invalid("format is not \(SealedRootKey.format)")
    }
    switch try string("method", in: object) {
    case "passphrase":
      guard let kdf = object["argon2id"]?.objectValue else { throw invalid("\"argon2id\" is missing") }
      let parameters = Argon2id.Parameters(
        memoryKiB: UInt32(try integer("m", in: kdf, 8...(4 << 20))), iterations: UInt32(try integer("t", in: kdf, 1...64)),
        parallelism: UInt32(try integer("p", in: kdf, 1...64)))
      guard let salt = Base64.decode(try string("salt", in: kdf)), salt.count >= 16 else { throw invalid("argon2id salt") }
      method = .passphrase(parameters, salt: salt)
    case "shamir":
      guard let shamir = object["shamir"]?.objectValue else { throw invalid("\"shamir\" is missing") }
      let shares = Int(try integer("shares", in: shamir, 1...255))
      let threshold = Int(try integer("threshold", in: shamir, 1...Int64(shares)))
      method = .shamir(threshold: threshold, shares: shares, setID: try string("set", in: shamir))
    case let other:
      throw invalid("unknown method \"\(other)\"")
    }
    rootKeyID = try string("root_key_id", in: object)
    unsealCheck = try string("unseal_check", in: object)
    nonce = try base64("nonce")
    guard nonce.count == AESGCM.standardNonceLength else { throw invalid("nonce length") }
    sealed = AESGCM.SealedBox(ciphertext: try base64("ciphertext"), tag: try base64("tag"))
    guard sealed.tag.count == AESGCM.tagLength else { throw invalid("tag length") }
  }

  private init(method: Method, rootKeyID: String, unsealCheck: String, nonce: [UInt8], sealed: AESGCM.SealedBox) {
    self.method = method
    self.rootKeyID = rootKeyID
    self.unsealCheck = unsealCheck
    self.nonce = nonce
    self.sealed = sealed
  }
}
