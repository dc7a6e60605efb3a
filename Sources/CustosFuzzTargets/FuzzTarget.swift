/// One parser or verifier that takes untrusted bytes, as libFuzzer drives it: `run` must return for
/// every input (a thrown error is a correct answer; a trap, a leak or a hang is a bug).
public struct FuzzTarget: Sendable {
  /// The name `make fuzz` and the corpus directories use.
  public let name: String
  /// What is fuzzed, in a line.
  public let summary: String
  /// The longest input libFuzzer builds (`-max_len`): the largest the service accepts where it has a
  /// limit, or where a longer input only repeats what a shorter one reaches, a bound above every nesting
  /// and field limit of the parser. Longer inputs cost time linearly and find nothing a shorter one does
  /// not, so the bound decides how many inputs a run gets through.
  public let maximumInputBytes: Int
  /// Whether libFuzzer looks for a leak after each input whose allocations and frees do not balance
  /// (`-detect_leaks`). Code that hands work to Dispatch's worker threads unbalances nearly every input
  /// with the workers' own allocations, and the check then takes most of the run (evidence: 448 inputs/s
  /// with it, 1,513/s without). Such a target is checked once, when the run ends: LeakSanitizer still
  /// reports anything left unreachable, without naming the input that leaked it.
  public let checksLeaksAfterEachInput: Bool
  /// Feeds one input to the code under test.
  public let run: @Sendable ([UInt8]) -> Void
  /// Builds the fixtures `run` uses once, before fuzzing: state made during an input and kept after it
  /// would be reported as a leak.
  public let prepare: @Sendable () -> Void

  public init(
    name: String, summary: String, maximumInputBytes: Int = 64 * 1024, checksLeaksAfterEachInput: Bool = true,
    prepare: @escaping @Sendable () -> Void = {}, run: @escaping @Sendable ([UInt8]) -> Void
  ) {
    self.name = name
    self.summary = summary
    self.maximumInputBytes = maximumInputBytes
    self.checksLeaksAfterEachInput = checksLeaksAfterEachInput
    self.prepare = prepare
    self.run = run
  }
}

/// Every fuzz target, by name.
public enum FuzzTargets {
  public static let all: [FuzzTarget] = [
    json, canonicalEntry, ledgerDetails, cedarPolicy, cedarSchema, schemaJSON, entitiesJSON, contextJSON, jwt,
    signedNote, checkpoint, verifierKeys, ciphertext, unsealShare, sealedRootKey, evidence,
  ]

  public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

extension String {
  /// The input as text the way the service sees it: invalid UTF-8 repaired, as Swift strings are.
  init(fuzzInput bytes: [UInt8]) { self.init(decoding: bytes, as: UTF8.self) }
}

extension String {
  /// `text` as a signed note's text, which ends in a newline byte (NoteSigner requires it).
  init(noteText text: String) { self = text.utf8.last == 0x0A ? text : text + "\n" }
}
