import Foundation

/// Cedar's integration tests and generated corpus (copied from ../shared/conformance/cedar, Apache-2.0,
/// LICENSE and NOTICE beside them). The corpus stays compressed in the repository and is unpacked once
/// per test run into a temporary folder next to the hand-written tests.
enum ConformanceData {
  private static let unpacked: Result<URL, any Error> = Result {
    let source = Bundle.module.url(forResource: "Conformance", withExtension: nil)!
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("custos-cedar-conformance-\(ProcessInfo.processInfo.processIdentifier)")
    if !FileManager.default.fileExists(atPath: root.path) {
      try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
      for item in ["tests", "sample-data"] {
        try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: root.appendingPathComponent(item))
      }
      let tar = Process()
      tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      tar.arguments = ["tar", "-xzf", source.appendingPathComponent("corpus-tests.tar.gz").path, "-C", root.path]
      try tar.run()
      tar.waitUntilExit()
      guard tar.terminationStatus == 0 else { throw CocoaError(.fileReadCorruptFile) }
    }
    return root
  }

  /// The folder that test files' relative paths resolve against.
  static func root() throws -> URL { try unpacked.get() }
}
