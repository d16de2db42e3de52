import ArgumentParser
import RNNKit

/// How to read a model: its format, what formats without activations or a vocabulary need, and
/// whether to trust it. `inspect` and `validate` use these alone; the commands that run a model add
/// ``ModelInputOptions``.
struct ReadingOptions: ParsableArguments {
  @Option(
    name: .customLong("from"),
    help: ArgumentHelp("The input format (default: detected from the content).", valueName: "format"))
  var inputFormat: InputFormatName?

  var format: String? { inputFormat?.name }

  @Option(help: "The hidden activation f, for files that do not store it.")
  var hiddenActivation: HiddenActivation?

  @Option(help: "The output activation g, for files that do not store it.")
  var outputActivation: OutputActivation?

  @Option(
    help: ArgumentHelp(
      "A vocabulary file, one token per line in id order, for formats that store none (`rnnkit vocab` writes one).",
      valueName: "file"),
    completion: .file())
  var vocab: String?

  @Flag(
    inversion: .prefixedNo,
    help: "Lower-case text before looking tokens up, overriding what the file says (Keras files: on).")
  var lowercase: Bool?

  @Option(help: "Split text into words or characters, overriding what the file says.")
  var tokenizer: TokenizerSettings.Level?

  @Option(
    help: ArgumentHelp("The token unknown words map to, overriding what the file says.", valueName: "token"))
  var unknownToken: String?

  @Option(
    name: .customLong("prefix"),
    help: ArgumentHelp(
      "The module prefix of the nn.RNN to read from a PyTorch state dict that holds several (such as encoder.rnn).",
      valueName: "prefix"))
  var modulePrefix: String?

  @Option(
    name: .customLong("key"),
    help: ArgumentHelp(
      "The key of a PyTorch training checkpoint that holds the state dict (default: found automatically).",
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

  func importOptions(verify: Bool = false) throws -> ImportOptions {
    try InputPath.check(vocab)
    var readOptions = ReadOptions(verifyChecksums: verify)
    readOptions.memoryMap = !noMmap
    var options = ImportOptions(
      vocabularyPath: vocab, hiddenActivation: hiddenActivation, outputActivation: outputActivation,
      readOptions: readOptions, modulePrefix: modulePrefix, stateDictKey: stateDictKey)
    options.lowercase = lowercase
    options.tokenizerLevel = tokenizer
    options.unknownToken = unknownToken
    return options
  }
}

/// The options every model-running command shares.
struct ModelInputOptions: ParsableArguments {
  @OptionGroup var reading: ReadingOptions

  @Flag(help: "Skip checksum verification of .rnn files (faster; use only on trusted files).")
  var skipChecksums = false

  var format: String? { reading.format }

  /// With `verifyOnFirstUse`, the large tensors of a format 1.1 file are verified block by block
  /// as the runtime reads them, instead of all at open (`ReadOptions.verifyOnFirstUse`).
  func importOptions(verifyOnFirstUse: Bool = false) throws -> ImportOptions {
    var options = try reading.importOptions(verify: !skipChecksums)
    options.readOptions.verifyOnFirstUse = verifyOnFirstUse
    return options
  }

  /// Loads the model at `path` in any known format.
  func load(_ path: String, verifyOnFirstUse: Bool = false) throws -> ElmanModel {
    try read(path, verifyOnFirstUse: verifyOnFirstUse).model
  }

  /// Loads the model at `path` and names the format it was in.
  func read(_ path: String, verifyOnFirstUse: Bool = false) throws -> ModelSource.Loaded {
    try ModelSource.read(
      path: path, format: format, options: importOptions(verifyOnFirstUse: verifyOnFirstUse),
      isolate: !reading.trustInput)
  }
}

/// A one-line error about the input for the user; `rnnkit` prints it and exits 1.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
