import ArgumentParser
import Foundation
import RNNKit

// The library's value types as argument values, so swift-argument-parser refuses an unknown name as
// a usage error (exit 64) and shell completions offer every case.

extension HiddenActivation: ExpressibleByArgument {
  /// Also accepts Keras's spellings (`linear`, `swish`).
  public init?(argument: String) { self.init(name: argument) }
}

extension OutputActivation: ExpressibleByArgument {
  /// Also accepts Keras's `linear`.
  public init?(argument: String) { self.init(name: argument) }
}

extension TokenizerSettings.Level: ExpressibleByArgument {}

extension TrainingBackend: ExpressibleByArgument {}

/// Checks of input paths shared by every command, so a missing file reads the same whatever its
/// kind (model, corpus, text, vocabulary) and before any work starts.
enum InputPath {
  /// `-`: standard input (or output, for an output argument).
  static let standardStream = "-"

  /// `path`, or for `-` a path to a copy of standard input, spooled once into an unnamed file
  /// (`/proc/PID/fd/N`, which the isolated reader opens too), so nothing is left on disk however
  /// the process ends.
  static func resolve(_ path: String) throws -> String {
    guard path == standardStream else { return path }
    let copy = try Spool.copy ?? StandardInput.spool()
    Spool.copy = copy
    return copy
  }

  /// How the copy of standard input shows in messages.
  static func displayName(in message: String) -> String {
    guard let copy = Spool.copy else { return message }
    return message.replacingOccurrences(of: copy, with: "(standard input)")
  }

  static var usedStandardInput: Bool { Spool.copy != nil }

  private enum Spool {
    nonisolated(unsafe) static var copy: String?
  }

  /// Throws one wording for a path that does not exist or is a directory.
  static func check(_ path: String?) throws {
    guard let path, path != standardStream else { return }
    var info = stat()
    guard stat(path, &info) == 0 else {
      let code = errno
      if code == ENOENT || code == ENOTDIR { throw CLIError("\(displaySafe(path)): no such file") }
      throw CLIError("\(displaySafe(path)): cannot read the file (\(String(cString: strerror(code))))")
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      throw CLIError("\(displaySafe(path)): is a directory, not a file")
    }
  }

  /// Refuses an output whose folder is missing or not writable, before any work starts.
  static func checkOutputFolder(_ path: String) throws {
    guard path != standardStream else { return }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var info = stat()
    guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
      throw CLIError("\(displaySafe(path)): the folder \(displaySafe(folder)) does not exist")
    }
    guard access(folder, W_OK) == 0 else {
      throw CLIError("\(displaySafe(path)): the folder \(displaySafe(folder)) is not writable")
    }
    if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
      throw CLIError("\(displaySafe(path)): is a directory, not a file")
    }
  }
}

/// A usage error raised after parsing (a value out of range, a conflicting choice): exit 64, as
/// swift-argument-parser's own refusals.
func usageError(_ error: any Error) -> ValidationError {
  ValidationError("\(Advice.adding(to: error))")
}
