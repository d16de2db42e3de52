import RNNFormat
import RNNModel

/// Options every importer understands. Formats that store no vocabulary or activations (Keras
/// weight files, for example) take them from here.
public struct ImportOptions: Sendable, Codable {
  /// A file with one token per line, in id order.
  public var vocabularyPath: String?
  /// The vocabulary itself, in id order; used when ``vocabularyPath`` is nil.
  public var vocabularyTokens: [String]?
  /// Overrides or supplies the hidden activation f.
  public var hiddenActivation: HiddenActivation?
  /// Overrides or supplies the output activation g.
  public var outputActivation: OutputActivation?
  /// Limits and checksum verification for `.rnn` input.
  public var readOptions: ReadOptions
  /// The module prefix of the recurrent layer to read from a PyTorch state dict that holds several,
  /// such as `encoder.rnn` (a trailing `.` is optional; the empty string is the top level).
  public var modulePrefix: String?
  /// The top-level key of a PyTorch training checkpoint that holds the state dict, such as
  /// `model_state_dict`; found automatically when nil.
  public var stateDictKey: String?
  /// Overrides whether text is lower-cased before lookup (formats such as Keras store no tokenizer,
  /// so without this a token with a capital letter could never be typed).
  public var lowercase: Bool?
  /// Overrides the tokenizer level (words or characters).
  public var tokenizerLevel: TokenizerSettings.Level?
  /// Overrides the token that unknown words map to.
  public var unknownToken: String?
  /// Stand in for what the file does not store and nothing supplied (activations tanh and softmax,
  /// tokens named by their ids), so tools that check or describe structure can read any file. A
  /// model read this way is for looking at, not for running.
  public var standIns: Bool = false

  /// Creates import options; every field is optional.
  public init(
    vocabularyPath: String? = nil, vocabularyTokens: [String]? = nil,
    hiddenActivation: HiddenActivation? = nil,
    outputActivation: OutputActivation? = nil, readOptions: ReadOptions = ReadOptions(),
    modulePrefix: String? = nil, stateDictKey: String? = nil
  ) {
    self.vocabularyPath = vocabularyPath
    self.vocabularyTokens = vocabularyTokens
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.readOptions = readOptions
    self.modulePrefix = modulePrefix
    self.stateDictKey = stateDictKey
  }
}

extension ImportOptions {
  /// The vocabulary the caller supplied: read from ``vocabularyPath``, or ``vocabularyTokens``.
  public func suppliedVocabulary() throws -> [String]? {
    if let vocabularyPath { return try readVocabularyFile(vocabularyPath) }
    return vocabularyTokens
  }

  /// `model` with the tokenizer settings these options override; every format's read gets them
  /// applied, whatever the format stores.
  public func applyingTokenizerSettings(to model: ElmanModel) -> ElmanModel {
    var model = model
    if let lowercase { model.tokenizer.lowercase = lowercase }
    if let tokenizerLevel { model.tokenizer.level = tokenizerLevel }
    if let unknownToken { model.tokenizer.unknownToken = unknownToken }
    return model
  }

  /// Where the supplied vocabulary came from, for messages.
  public var vocabularySource: String { vocabularyPath ?? "the supplied vocabulary" }

  /// Options that supply what `format` does not store from `model`, so a file just written from
  /// `model` reads back as the same model.
  public init(restoring model: ElmanModel, in format: any ModelFileFormat) {
    self.init()
    if !format.capabilities.contains(.storesVocabulary) { vocabularyTokens = model.vocabulary?.tokens }
    if !format.capabilities.contains(.storesActivations) {
      hiddenActivation = model.hiddenActivation
      outputActivation = model.outputActivation
    }
  }
}

/// Options every exporter understands.
public struct ExportOptions: Sendable, Codable {
  /// The dtype of W, b, V and c; nil keeps each parameter's own (f32 for formats without a choice).
  public var dtype: DType?
  /// Replace an existing file.
  public var overwrite: Bool

  /// Creates export options.
  public init(dtype: DType? = nil, overwrite: Bool = false) {
    self.dtype = dtype
    self.overwrite = overwrite
  }
}

/// What a format can do and what it keeps.
public struct FormatCapabilities: OptionSet, Sendable, Hashable {
  /// The bits.
  public let rawValue: Int
  /// Creates a set from its raw bits.
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// RNNKit reads this format.
  public static let read = FormatCapabilities(rawValue: 1 << 0)
  /// RNNKit writes this format.
  public static let write = FormatCapabilities(rawValue: 1 << 1)
  /// The format stores the vocabulary, so a token model survives a round trip without a sidecar.
  public static let storesVocabulary = FormatCapabilities(rawValue: 1 << 2)
  /// The format stores the activations f and g.
  public static let storesActivations = FormatCapabilities(rawValue: 1 << 3)
}

/// Where a format's reader may run.
public enum ReadIsolation: String, Sendable, Codable {
  /// The parser is RNNKit's own, bounds-checked and fuzzed: it reads in the calling process.
  case inProcess
  /// The parser is a C library RNNKit does not own (libhdf5): untrusted files are read in a
  /// memory- and time-limited child process, so a crash or a hang there becomes an error here.
  case childProcess
}

/// A model file format: one type per format, in one file under a `Formats/` folder, listed once in
/// the registry (`ModelFormats.all` in RNNKit). Everything else (detection, help, the values
/// `--from` and `--to` accept, isolation, reading back after a write) is derived from what the type
/// declares here.
public protocol ModelFileFormat: Sendable {
  /// The stable name, such as `rnn` or `keras-h5`.
  var name: String { get }
  /// One line for help texts, such as "Keras 3 weight files (.weights.h5)".
  var summary: String { get }
  /// File-name extensions, with the dot, longest first where one ends another.
  var extensions: [String] { get }
  /// What the format can do.
  var capabilities: FormatCapabilities { get }
  /// The dtypes ``write(_:to:options:)`` accepts for W, b, V and c (i8: V quantized per row, the rest
  /// as stored); empty when not writable.
  var writableDTypes: [DType] { get }
  /// Where the reader may run.
  var readIsolation: ReadIsolation { get }
  /// Whether the file at `path`, whose first bytes are `prefix`, is positively in this format.
  /// Formats read by a C library may open the file with it, so for those this runs only where
  /// reading would: in the isolated reader.
  func recognizes(path: String, prefix: [UInt8]) -> Bool
  /// Reads a model.
  func read(path: String, options: ImportOptions) throws -> ElmanModel
  /// Writes a model to `path` atomically, through `AtomicFile.write(to: path, ...)`: inside a
  /// caller's own atomic write of `path` (as `rnnkit convert` does, to check the result before it
  /// is put in place) that joins the caller's temporary file. Formats that cannot be written throw.
  func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws
}

extension ModelFileFormat {
  /// Whether the format can be read.
  public var isReadable: Bool { capabilities.contains(.read) }
  /// Whether the format can be written.
  public var isWritable: Bool { capabilities.contains(.write) }
}

extension ElmanModel {
  /// ``ElmanModel/checkWritable(limits:)`` with the output file named in the error: every writer
  /// here calls it first, so no format writes a file RNNKit cannot read back.
  func checkWritable(to path: String) throws(ModelFileError) {
    do { try checkWritable() } catch { throw ModelFileError(path: path, error: error) }
  }
}
