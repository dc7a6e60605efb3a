import ArgumentParser
import CustosCrypto
import Foundation

/// Reads passphrases and shares without echoing them, from a file (0600) or the terminal.
enum SecretInput {
  /// The file's contents without a trailing newline, or a line typed at `prompt` (echo off).
  static func read(file: String?, prompt: String) throws -> [UInt8] {
    if let file {
      guard var data = FileManager.default.contents(atPath: file).map({ [UInt8]($0) }) else {
        throw ValidationError("cannot read \(file)")
      }
      while let last = data.last, last == 0x0a || last == 0x0d { data.removeLast() }
      return data
    }
    return try readLine(prompt: prompt)
  }

  /// One line from standard input; with a terminal, the prompt goes to standard error and echo is off.
  static func readLine(prompt: String) throws -> [UInt8] {
    let terminal = isatty(STDIN_FILENO) == 1
    var saved = termios()
    if terminal {
      FileHandle.standardError.write(Data(prompt.utf8))
      tcgetattr(STDIN_FILENO, &saved)
      var silent = saved
      silent.c_lflag &= ~tcflag_t(ECHO)
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
    }
    defer {
      if terminal {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        FileHandle.standardError.write(Data("\n".utf8))
      }
    }
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while Foundation.read(STDIN_FILENO, &byte, 1) == 1, byte != 0x0a { line.append(byte) }
    if line.last == 0x0d { line.removeLast() }
    guard !line.isEmpty else { throw ValidationError("nothing was entered") }
    return line
  }
}
