import RNNFormat
import RNNModel

/// Options every importer understands. Formats that store no vocabulary or activations (Keras
/// weight files, for example) take them from here.
public struct ImportOptions: Sendable {
  /// A file with one token per line, in id order.
  public var vocabularyPath: String?
  /// Overrides or supplies the hidden activation f.
  public var hiddenActivation: HiddenActivation?
  /// Overrides or supplies the output activation g.
  public var outputActivation: OutputActivation?
  /// Limits and checksum verification for `.rnn` input.
  public var readOptions: ReadOptions

  public init(
    vocabularyPath: String? = nil, hiddenActivation: HiddenActivation? = nil,
    outputActivation: OutputActivation? = nil, readOptions: ReadOptions = ReadOptions()
  ) {
    self.vocabularyPath = vocabularyPath
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.readOptions = readOptions
  }
}

/// Options every exporter understands.
public struct ExportOptions: Sendable {
  /// The dtype of W, b, V and c; nil keeps each parameter's own (f32 for formats without a choice).
  public var dtype: DType?
  /// Replace an existing file.
  public var overwrite: Bool

  public init(dtype: DType? = nil, overwrite: Bool = false) {
    self.dtype = dtype
    self.overwrite = overwrite
  }
}

/// A model file format: one type per format, in one file under `Formats/`.
public protocol ModelFileFormat: Sendable {
  /// The name used by `--from` and `--to`, such as `rnn` or `keras-h5`.
  var name: String { get }
  /// File-name extensions this format is guessed from when the content does not decide.
  var extensions: [String] { get }
  /// Whether the file at `path`, whose first bytes are `prefix`, is in this format.
  func sniff(path: String, prefix: [UInt8]) -> Bool
  /// Reads a model.
  func read(path: String, options: ImportOptions) throws -> ElmanModel
  /// Writes a model atomically. Formats that cannot be written throw.
  func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws
}

/// Errors from choosing a format.
public enum FormatSelectionError: Error, Sendable, CustomStringConvertible {
  case unknownFormat(String, known: [String])
  case undetectable(path: String)
  case unreadable(path: String, reason: String)

  public var description: String { displaySafe(message) }

  private var message: String {
    switch self {
    case .unknownFormat(let name, let known):
      return "unknown format \"\(name)\"; known formats: \(known.joined(separator: ", "))"
    case .undetectable(let path):
      return "\(path): cannot tell the format from the content or the file name; pass --from"
    case .unreadable(let path, let reason): return "\(path): \(reason)"
    }
  }
}

/// The registry of every format RNNKit reads and writes.
public enum ModelFormats {
  /// Every format, in detection order.
  public static let all: [any ModelFileFormat] = [RNNFileFormat()] + hdf5Formats + [SafetensorsFormat()]

  /// The format called `name`.
  public static func named(_ name: String) throws -> any ModelFileFormat {
    guard let format = all.first(where: { $0.name == name }) else {
      throw FormatSelectionError.unknownFormat(name, known: all.map(\.name))
    }
    return format
  }

  /// The format of the file at `path`: from its content first, its name second.
  public static func detect(path: String) throws -> any ModelFileFormat {
    let prefix = try readPrefix(path: path, count: 4096)
    if let format = all.first(where: { $0.sniff(path: path, prefix: prefix) }) { return format }
    let lower = path.lowercased()
    if let format = all.first(where: { f in f.extensions.contains(where: { lower.hasSuffix($0) }) }) {
      return format
    }
    throw FormatSelectionError.undetectable(path: path)
  }

  /// The format for writing `path`: `name` if given, otherwise from the file name.
  public static func forOutput(path: String, name: String?) throws -> any ModelFileFormat {
    if let name { return try named(name) }
    let lower = path.lowercased()
    // Longest extension first, so `.weights.h5` wins over `.h5`.
    let candidates = all.flatMap { f in f.extensions.map { (ext: $0, format: f) } }
      .sorted { $0.ext.count > $1.ext.count }
    if let match = candidates.first(where: { lower.hasSuffix($0.ext) }) { return match.format }
    throw FormatSelectionError.undetectable(path: path)
  }

  /// Reads a model in any known format (`format` nil means detect).
  public static func read(path: String, format: String? = nil, options: ImportOptions = ImportOptions())
    throws -> ElmanModel
  {
    let chosen = try format.map(named) ?? detect(path: path)
    return try chosen.read(path: path, options: options)
  }

  static func readPrefix(path: String, count: Int) throws -> [UInt8] {
    do {
      let storage = try ByteStorage(mapping: path)
      return Array(storage.bytes.prefix(count))
    } catch {
      throw FormatSelectionError.unreadable(path: path, reason: error.description)
    }
  }
}
