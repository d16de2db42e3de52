import ArgumentParser
import Foundation
import RNNKit

/// Reads models for the commands through the library, which isolates what must be isolated.
enum ModelSource {
  /// What a read produced: the model and the name of the format it was in.
  struct Loaded {
    var model: ElmanModel
    var format: String
  }

  /// Reads `path` in `format` (nil: detect), isolating C-library readers unless `isolate` is false.
  static func read(path: String, format: String?, options: ImportOptions, isolate: Bool) throws -> Loaded {
    try InputPath.check(path)
    let loaded = try ModelFormats.load(
      path: InputPath.resolve(path), format: format, options: options,
      isolation: IsolationPolicy(isolate: isolate))
    return Loaded(model: loaded.model, format: loaded.format.name)
  }

  /// Whether `path` is an `.rnn` file (or `format` says so), decided without any C library, so
  /// `inspect` and `validate` can show the container itself.
  static func isNativeRNN(path: String, format: String?) throws -> Bool {
    if let format { return format == RNNFileFormat().name }
    return try ModelFormats.detectInProcess(path: path) is RNNFileFormat
  }
}

/// The child side of isolated reads. Not for users.
struct ReadIsolated: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "read-isolated", abstract: "Internal: read a model in a child process.", shouldDisplay: false
  )

  func run() throws {
    let status = ModelFormats.serveIsolatedRead()
    if status != 0 { throw ExitCode(status) }
  }
}
