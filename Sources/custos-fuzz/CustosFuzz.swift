import CustosFuzzTargets
import Foundation

#if CUSTOS_LIBFUZZER
// Built by `make fuzz` with -sanitize=fuzzer,address: libFuzzer owns `main` and calls this per input;
// CUSTOS_FUZZ_TARGET names the target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  selectedTarget.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
  return 0
}

// SwiftPM links an executable's `main` to `<module>_main`; here it hands over to libFuzzer's driver.
@_cdecl("custos_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var argc = argc
  var argv = argv
  selectedTarget.prepare()
  return runLibFuzzer(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}

// int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)), from libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func runLibFuzzer(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

let selectedTarget: FuzzTarget = {
  let name = ProcessInfo.processInfo.environment["CUSTOS_FUZZ_TARGET"] ?? ""
  guard let target = FuzzTargets.named(name) else {
    FileHandle.standardError.write(Data("CUSTOS_FUZZ_TARGET must name one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))\n".utf8))
    exit(2)
  }
  return target
}()
#else
/// Without libFuzzer: lists the targets (name, longest input, 1 when leaks are checked after each input,
/// summary; tab-separated), or replays inputs (a corpus, a crash file) through one.
///
///   custos-fuzz list
///   custos-fuzz replay TARGET FILE_OR_DIRECTORY...
@main
struct CustosFuzz {
  static func main() throws {
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "list":
      for target in FuzzTargets.all {
        print("\(target.name)\t\(target.maximumInputBytes)\t\(target.checksLeaksAfterEachInput ? 1 : 0)\t\(target.summary)")
      }
    case "replay" where arguments.count >= 3:
      guard let target = FuzzTargets.named(arguments[1]) else {
        print("unknown target \(arguments[1]); known: \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
        exit(2)
      }
      var count = 0
      for path in arguments.dropFirst(2) {
        for file in files(at: path) {
          target.run([UInt8](try Data(contentsOf: file)))
          count += 1
        }
      }
      print("\(target.name): \(count) inputs replayed, none crashed")
    default:
      print("usage: custos-fuzz list | custos-fuzz replay TARGET FILE_OR_DIRECTORY...")
      exit(2)
    }
  }

  static func files(at path: String) -> [URL] {
    let url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
    guard isDirectory.boolValue else { return [url] }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.sorted().map { url.appendingPathComponent($0) }
  }
}
#endif
