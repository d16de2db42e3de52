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

  /// `path`, or for `-` a path to a copy of standard input, spooled once into an unnamed file. When
  /// no in-process reader recognises it, or `format` is read by a C library, the copy gets a name in
  /// a private folder removed at exit, since libhdf5 cannot open `/proc/PID/fd/N`.
  static func resolve(_ path: String, format: String? = nil) throws -> String {
    guard path == standardStream else { return path }
    if let named = Spool.named { return named }
    let anonymous = try Spool.anonymous ?? StandardInput.spool()
    Spool.anonymous = anonymous
    let inProcess: Bool
    if let format {
      inProcess = (try? ModelFormats.named(format))?.readIsolation == .inProcess
    } else {
      inProcess = (try? ModelFormats.detectInProcess(path: anonymous)) != nil
    }
    if inProcess { return anonymous }
    let folder = try StagingFolder()
    let named = folder.path(for: "standard-input")
    try StandardInput.link(anonymous, to: named)
    Spool.named = named
    Spool.folder = folder
    atexit { Spool.folder?.remove() }
    return named
  }

  /// How the copy of standard input shows in messages.
  static func displayName(in message: String) -> String {
    var message = message
    for path in [Spool.named, Spool.anonymous].compactMap({ $0 }) {
      message = message.replacingOccurrences(of: path, with: "(standard input)")
    }
    return message
  }

  static var usedStandardInput: Bool { Spool.anonymous != nil }

  private enum Spool {
    nonisolated(unsafe) static var anonymous: String?
    nonisolated(unsafe) static var named: String?
    nonisolated(unsafe) static var folder: StagingFolder?
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
