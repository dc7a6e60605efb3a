import CustosKeys
import CustosLedger
import CustosTokens
import Foundation

/// A deployment's state beside its log, as a backup holds it: everything wrapped or sealed as stored.
public struct BackupContents: Sendable, Equatable {
  public var keyrings: [KeyringRecord] = []
  public var rootKeyID: String?
  public var sealedRootKey: SealedRootKeySlots = .init()
  public var ledgerSigningKey: StoredLedgerSigningKey?
  public var clients: [ServiceClient] = []
  public var tokenSigningKeys: [StoredSigningKey] = []
  public var revocations: [Revocation] = []
  /// The active policy set's files, by name.
  public var policyFiles: [PolicyFile] = []

  public init() {}

  public struct SealedRootKeySlots: Codable, Sendable, Equatable {
    public var current: [UInt8]?
    public var next: [UInt8]?
    public init(current: [UInt8]? = nil, next: [UInt8]? = nil) {
      self.current = current
      self.next = next
    }
  }

  public struct PolicyFile: Codable, Sendable, Equatable {
    public var name: String
    public var content: [UInt8]
    public init(name: String, content: [UInt8]) {
      self.name = name
      self.content = content
    }
  }

  /// The rows of `part` (JSON, one value per row).
  func rows(_ part: BackupFormat.Part) throws -> [[UInt8]] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    func encode<T: Encodable>(_ values: [T]) throws -> [[UInt8]] { try values.map { [UInt8](try encoder.encode($0)) } }
    switch part {
    case .ledger: return []
    case .keyrings: return try encode(keyrings)
    case .rootKeyID: return try encode(rootKeyID.map { [$0] } ?? [])
    case .sealedRootKey: return try encode([sealedRootKey])
    case .ledgerSigningKey: return try encode(ledgerSigningKey.map { [$0] } ?? [])
    case .clients: return try encode(clients)
    case .tokenSigningKeys: return try encode(tokenSigningKeys)
    case .revocations: return try encode(revocations)
    case .policySet: return try encode(policyFiles)
    }
  }

  /// Takes one row of `part`.
  mutating func add(_ row: [UInt8], to part: BackupFormat.Part) throws {
    let decoder = JSONDecoder()
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
      do { return try decoder.decode(type, from: Data(row)) } catch {
        throw BackupError(part: part.rawValue, "a row does not decode: \(error)")
      }
    }
    switch part {
    case .ledger: break
    case .keyrings: keyrings.append(try decode(KeyringRecord.self))
    case .rootKeyID: rootKeyID = try decode(String.self)
    case .sealedRootKey: sealedRootKey = try decode(SealedRootKeySlots.self)
    case .ledgerSigningKey: ledgerSigningKey = try decode(StoredLedgerSigningKey.self)
    case .clients: clients.append(try decode(ServiceClient.self))
    case .tokenSigningKeys: tokenSigningKeys.append(try decode(StoredSigningKey.self))
    case .revocations: revocations.append(try decode(Revocation.self))
    case .policySet: policyFiles.append(try decode(PolicyFile.self))
    }
  }
}
