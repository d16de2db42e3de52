import ArgumentParser
import RNNKit

/// How to read a model: its format, what formats without activations need, and whether to trust it.
/// Shared by ``ModelInputOptions`` and ``InspectInputOptions``, which differ only in how the
/// vocabulary file is named.
struct ReadingOptions: ParsableArguments {
  @Option(
    name: .customLong("from"),
    help: ArgumentHelp("The input format; detected from the content by default.", valueName: "format"))
  var inputFormat: InputFormatName?

  var format: String? { inputFormat?.name }

  @Option(help: "The hidden activation f, for files that do not store it.")
  var hiddenActivation: String?

  @Option(help: "The output activation g, for files that do not store it.")
  var outputActivation: String?

  @Option(
    name: .customLong("prefix"),
    help: ArgumentHelp(
      "The module prefix of the nn.RNN to read from a PyTorch state dict that holds several (such as encoder.rnn).",
      valueName: "prefix"))
  var modulePrefix: String?

  @Option(
    name: .customLong("key"),
    help: ArgumentHelp(
      "The key of a PyTorch training checkpoint that holds the state dict (found automatically by default).",
      valueName: "key"))
  var stateDictKey: String?

  @Flag(
    help:
      "Read HDF5 and Keras files inside this process: faster, but libhdf5 can crash on a damaged file (use only on trusted files)."
  )
  var trustInput = false

  @Flag(
    help:
      "Read .rnn files into memory instead of mapping them, so that another process truncating the file cannot fault this one."
  )
  var noMmap = false

  func importOptions(vocabularyPath: String?, verify: Bool) throws -> ImportOptions {
    var readOptions = ReadOptions(verifyChecksums: verify)
    readOptions.memoryMap = !noMmap
    var options = ImportOptions(
      vocabularyPath: vocabularyPath, readOptions: readOptions, modulePrefix: modulePrefix,
      stateDictKey: stateDictKey)
    if let name = hiddenActivation {
      guard let f = HiddenActivation(name: name) else {
        throw CLIError(
          "--hidden-activation \(name) is not known; choose one of \(HiddenActivation.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      options.hiddenActivation = f
    }
    if let name = outputActivation {
      guard let g = OutputActivation(name: name) else {
        throw CLIError(
          "--output-activation \(name) is not known; choose one of \(OutputActivation.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      options.outputActivation = g
    }
    return options
  }
}

/// The options every model-reading command shares.
struct ModelInputOptions: ParsableArguments {
  @OptionGroup var reading: ReadingOptions

  @Option(help: "A vocabulary file, one token per line in id order (for Keras files, which carry none).")
  var vocab: String?

  @Flag(help: "Skip checksum verification of .rnn files (faster; use only on trusted files).")
  var noVerify = false

  var format: String? { reading.format }

  func importOptions() throws -> ImportOptions {
    try reading.importOptions(vocabularyPath: vocab, verify: !noVerify)
  }

  /// Loads the model at `path` in any known format.
  func load(_ path: String) throws -> ElmanModel {
    try read(path).model
  }

  /// Loads the model at `path` and names the format it was in.
  func read(_ path: String) throws -> ModelSource.Loaded {
    try ModelSource.read(path: path, format: format, options: importOptions(), isolate: !reading.trustInput)
  }
}

/// The options of `inspect`, where `--vocab` lists the tokens, so the vocabulary file is
/// `--vocab-file`. Inspect reads no tensor data, so there is nothing to verify or skip.
struct InspectInputOptions: ParsableArguments {
  @OptionGroup var reading: ReadingOptions

  @Option(help: "A vocabulary file, one token per line in id order (for Keras files, which carry none).")
  var vocabFile: String?

  var format: String? { reading.format }
  var trustInput: Bool { reading.trustInput }

  func importOptions() throws -> ImportOptions {
    try reading.importOptions(vocabularyPath: vocabFile, verify: false)
  }
}

/// A one-line error for the user; `rnnkit` prints it and exits 1.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
