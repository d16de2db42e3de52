import ArgumentParser
import Foundation
import RNNKit

struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a self-contained HTML report of a model: weights as pictures.",
    discussion: """
      The page opens with the model card (format, provenance, H/X/O, activations, vocabulary, \
      metadata, tensors with their stored XXH64 for .rnn files), then heatmaps of W_h, W_x and V \
      (block-averaged to at most --max-cells cells a side), a histogram of every tensor with NaN and \
      Inf counts, the singular values of W_h with its spectral radius, and the vocabulary with the \
      most likely next tokens after each --prompt. --text adds activation statistics on sample \
      text: how saturated each hidden unit is and how ∂h_T/∂h_t shrinks or grows with distance. \
      The file needs no network; it is written atomically and never replaces a file without --force.
      """)

  @Argument(help: "The model file.")
  var model: String

  @Option(
    name: [.customShort("o"), .long], help: "The HTML file to write (default: the model's name with .html).")
  var output: String?

  @OptionGroup var input: ModelInputOptions

  @Option(name: .customLong("prompt"), help: "A prompt whose most likely next tokens are shown (repeatable).")
  var prompts: [String] = []

  @Option(help: "How many next tokens to show per prompt.")
  var top = 5

  @Option(name: .customLong("text"), help: "A text file to run for activation statistics (token models).")
  var textFile: String?

  @Option(help: "At most this many tokens of --text are run.")
  var maxTokens = 2_000

  @Option(help: "Heatmaps have at most this many cells a side; bigger matrices are block-averaged.")
  var maxCells = 256

  @Flag(help: "Replace an existing output file.")
  var force = false

  func run() throws {
    let destination = output ?? Self.defaultOutput(for: model)
    try refuseToOverwriteInput(destination, inputs: [model])
    if !force && FileManager.default.fileExists(atPath: destination) {
      throw CLIError("\(destination): already exists; pass --force to replace it")
    }
    var options = try reportOptions()
    if let textFile {
      options.sampleText = try Self.readText(textFile)
      options.sampleName = textFile
    }
    let loaded = try input.read(model)
    let subject = ReportSubject(
      model: loaded.model, path: model, format: loaded.format, checksumsVerified: !input.skipChecksums)
    let html: String
    do {
      html = try ModelReport.html(for: subject, options: options)
    } catch {
      throw Self.advice(error, textFile: textFile)
    }
    try Self.write(html, to: destination, force: force)
    print("\(model) (\(loaded.format)) -> \(destination): \(byteCountText(html.utf8.count))")
  }

  func reportOptions() throws -> ReportOptions {
    guard top >= 1 else { throw CLIError("--top must be at least 1") }
    guard maxTokens >= 1 else { throw CLIError("--max-tokens must be at least 1") }
    guard maxCells >= 1 else { throw CLIError("--max-cells must be at least 1") }
    return ReportOptions(
      prompts: prompts, topTokens: top, maxSampleTokens: maxTokens, maxHeatmapCells: maxCells)
  }

  /// `model.rnn` → `model.html`, in the current folder.
  static func defaultOutput(for model: String) -> String {
    URL(fileURLWithPath: model).deletingPathExtension().appendingPathExtension("html").lastPathComponent
  }

  /// Sample text: the first 16 MiB at most (far more than the tokens a report runs).
  static func readText(_ path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw CLIError("\(path): cannot be opened for reading")
    }
    defer { try? handle.close() }
    do {
      let data = try handle.read(upToCount: 16 << 20) ?? Data()
      return String(decoding: data, as: UTF8.self)
    } catch {
      throw CLIError("\(path): cannot be read: \(error.localizedDescription)")
    }
  }

  /// Turns the library's errors into advice that names the flags.
  static func advice(_ error: ReportError, textFile: String?) -> Error {
    switch error {
    case .prompt(let prompt, let reason): return CLIError(displaySafe("--prompt \"\(prompt)\": \(reason)"))
    case .sampleText(let reason): return CLIError(displaySafe("\(textFile ?? "--text"): \(reason)"))
    default: return CLIError(error.description)
    }
  }

  static func write(_ html: String, to path: String, force: Bool) throws {
    do {
      try ModelReport.write(html, to: path, overwrite: force)
    } catch FormatError.destinationExists {
      throw CLIError("\(path): already exists; pass --force to replace it")
    }
  }
}

/// Refuses an output that is one of the inputs (the same file, whatever the path says), even with
/// --force: no command overwrites its input.
func refuseToOverwriteInput(_ output: String, inputs: [String]) throws {
  func identity(_ path: String) -> [AnyHashable]? {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let device = attributes[.systemNumber] as? AnyHashable,
      let file = attributes[.systemFileNumber] as? AnyHashable
    else { return nil }
    return [device, file]
  }
  guard let target = identity(output) else { return }
  for input in inputs where identity(input) == target {
    throw CLIError("\(output): is the input file \(input); refusing to overwrite it")
  }
}
