import CustosCrypto
import CustosLedger
import CustosProtocol
import Foundation

/// A receipt proven on the client: its entry is included in a checkpoint that the pinned ledger key
/// signed. Keep it as proof that the entry was recorded.
public struct VerifiedReceipt: Sendable {
  public let receipt: Custos_V1_Receipt
  /// The signed checkpoint (C2SP signed note) the entry is included in.
  public let signedCheckpoint: String
  public let treeSize: UInt64
  /// The audit path from the entry's leaf to the checkpoint's root.
  public let inclusionProof: [Data]
}

extension CustosClient {
  /// Proves `receipt`: fetches the latest checkpoint, checks its signature with the pinned verifier key,
  /// fetches the inclusion proof at that size and checks it reaches the signed root. Throws DATA_LOSS
  /// when a proof or signature does not hold, FAILED_PRECONDITION without a pinned key.
  public func verify(_ receipt: Custos_V1_Receipt) async throws -> VerifiedReceipt {
    guard let pinned = configuration.pinnedVerifierKey else {
      throw CustosClientError(code: .failedPrecondition, message: "no pinned verifier key: set pinnedVerifierKey (custos ledger verifier-key)")
    }
    let verifier: NoteVerifier
    do { verifier = try NoteVerifier(verifierKey: pinned) } catch {
      throw CustosClientError(code: .invalidArgument, message: "pinnedVerifierKey: \(error)")
    }
    let note = try await checkpoint().signedNote
    let signed: SignedCheckpoint
    do { signed = try SignedCheckpoint(note: note, verifier: verifier) } catch {
      throw CustosClientError(code: .dataLoss, message: "the checkpoint is not signed by the pinned ledger key: \(error)")
    }
    let size = signed.checkpoint.size
    guard receipt.index < size else {
      throw CustosClientError(code: .dataLoss, message: "entry \(receipt.index) is not in the signed checkpoint of size \(size)")
    }
    let proof = try await inclusionProof(index: receipt.index, treeSize: size)
    do {
      guard let leaf = SHA256Digest(bytes: [UInt8](receipt.leafHash)) else { throw ProofVerification.Failure.malformedHash }
      try ProofVerification.verifyInclusion(
        index: receipt.index, size: size, leafHash: leaf, proof: try ProofVerification.digests(proof.hashes.map { [UInt8]($0) }),
        root: signed.checkpoint.rootHash)
    } catch {
      throw CustosClientError(code: .dataLoss, message: "entry \(receipt.index) is not proven in the signed checkpoint: \(error)")
    }
    return VerifiedReceipt(receipt: receipt, signedCheckpoint: note, treeSize: size, inclusionProof: proof.hashes)
  }
}
