import RNNFormat
import RNNModel

/// Errors from choosing a format.
public enum FormatSelectionError: Error, Sendable, CustomStringConvertible, ModelInputRequest {
  /// No format has this name.
  case unknownFormat(String, known: [String])
  /// Neither the content nor the file name tells the input format.
  case undetectableInput(path: String)
  /// The file name does not tell the output format.
  case undetectableOutput(path: String, known: [String])
  /// The format exists but cannot be read or written, as asked.
  case unsupported(format: String, operation: String)
  /// The file cannot be opened or read at all.
  case unreadable(path: String, reason: String)

  public var requestedInput: ModelInput? {
    switch self {
    case .undetectableInput: return .inputFormat
    case .undetectableOutput: return .outputFormat
    default: return nil
    }
  }

  public var description: String {
    switch self {
    case .unknownFormat(let name, let known):
      return "unknown format \"\(displaySafe(name))\"; known formats: \(known.joined(separator: ", "))"
    case .undetectableInput(let path):
      return "\(displaySafe(path)): cannot tell the format from the content or the file name"
    case .undetectableOutput(let path, let known):
      return
        "\(displaySafe(path)): cannot tell the output format from the file name (known extensions: \(known.joined(separator: ", ")))"
    case .unsupported(let format, let operation): return "the \(format) format cannot be \(operation)"
    case .unreadable(let path, let reason): return "\(displaySafe(path)): \(reason)"
    }
  }
}

/// The registry of every format RNNKit reads and writes: the one list of formats. Help texts, the
/// values `--from` and `--to` accept, detection, isolation and reading back after a write all come
/// from here and from what each `ModelFileFormat` declares.
public enum ModelFormats {
  /// Every format. Detection asks them in this order.
  public static let all: [any ModelFileFormat] = [
    RNNFileFormat(), SafetensorsFormat(), TorchSafetensorsFormat(), NumPyFormat(), ONNXFormat(),
    PyTorchFormat(),
    KerasWeightsFormat(), KerasArchiveFormat(), PlainHDF5Format(), KerasLegacyFormat(),
  ]

  /// The formats RNNKit reads.
  public static var readable: [any ModelFileFormat] { all.filter(\.isReadable) }
  /// The formats RNNKit writes.
  public static var writable: [any ModelFileFormat] { all.filter(\.isWritable) }

  /// The format called `name`.
  public static func named(_ name: String) throws(FormatSelectionError) -> any ModelFileFormat {
    guard let format = all.first(where: { $0.name == name }) else {
      throw .unknownFormat(name, known: all.map(\.name))
    }
    return format
  }

  /// How many leading bytes detection looks at.
  static let prefixLength = 4096

  /// The format of the file at `path` when a reader that runs in this process positively
  /// recognises its content (or, failing that, its file name). Nil means that only a reader in
  /// isolation may look further: everything not positively identified here is treated as
  /// untrusted input for a C library.
  public static func detectInProcess(path: String) throws(FormatSelectionError) -> (any ModelFileFormat)? {
    let prefix = try readPrefix(path: path)
    let candidates = all.filter { $0.readIsolation == .inProcess && $0.isReadable }
    if let format = candidates.first(where: { $0.recognizes(path: path, prefix: prefix) }) { return format }
    return byExtension(path, among: candidates)
  }

  /// The format of the file at `path`, from its content first and its name second. This may open
  /// the file with a C library (libhdf5), so call it only where such a reader may run: in the
  /// isolated reader, or on trusted input.
  public static func detect(path: String) throws(FormatSelectionError) -> any ModelFileFormat {
    let prefix = try readPrefix(path: path)
    let candidates = readable
    if let format = candidates.first(where: { $0.recognizes(path: path, prefix: prefix) }) { return format }
    if let format = byExtension(path, among: candidates) { return format }
    throw .undetectableInput(path: path)
  }

  /// The format for writing `path`: `name` if given, otherwise from the file name.
  public static func forOutput(path: String, name: String?) throws(FormatSelectionError)
    -> any ModelFileFormat
  {
    let format: any ModelFileFormat
    if let name {
      format = try named(name)
    } else {
      guard let match = byExtension(path, among: writable) else {
        throw .undetectableOutput(path: path, known: writable.flatMap(\.extensions))
      }
      format = match
    }
    guard format.isWritable else { throw .unsupported(format: format.name, operation: "written") }
    return format
  }

  /// The format whose longest matching extension ends `path`, so `.weights.h5` wins over `.h5`.
  static func byExtension(_ path: String, among formats: [any ModelFileFormat]) -> (any ModelFileFormat)? {
    let lower = path.lowercased()
    let matches = formats.flatMap { format in format.extensions.map { (ext: $0, format: format) } }
      .filter { lower.hasSuffix($0.ext) }
    return matches.max(by: { $0.ext.count < $1.ext.count })?.format
  }

  static func readPrefix(path: String) throws(FormatSelectionError) -> [UInt8] {
    do {
      let storage = try ByteStorage(mapping: path)
      return Array(storage.bytes.prefix(prefixLength))
    } catch {
      throw .unreadable(path: path, reason: "\(error)")
    }
  }
}
