import Foundation
import RNNFormat
import RNNHDF5
import RNNModel

extension ModelFormats {
  /// The HDF5-based formats. Order matters for detection by file name only: `.weights.h5` must be
  /// tried before the plain layout's `.h5`.
  static let hdf5Formats: [any ModelFileFormat] = [
    KerasWeightsFormat(), KerasArchiveFormat(), PlainHDF5Format(), KerasLegacyFormat(),
  ]
}

/// Errors about the vocabulary file given with `--vocab`.
public struct VocabularyFileError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { displaySafe("\(path): \(reason)") }
}

/// Reads a vocabulary file: one token per line, in id order, UTF-8. A final newline is optional
/// and a trailing carriage return on a line is dropped.
public func readVocabularyFile(_ path: String) throws -> [String] {
  // FileHandle rather than FileManager, so process substitutions and pipes work too.
  guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
    throw VocabularyFileError(path: path, reason: "cannot be read")
  }
  try? handle.close()
  guard let text = String(data: data, encoding: .utf8) else {
    throw VocabularyFileError(path: path, reason: "is not valid UTF-8")
  }
  var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
    line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
  }
  if lines.last == "" { lines.removeLast() }
  guard !lines.isEmpty else {
    throw VocabularyFileError(path: path, reason: "is empty; it needs one token per line")
  }
  if let empty = lines.firstIndex(of: "") {
    throw VocabularyFileError(path: path, reason: "line \(empty + 1) is empty; every line must hold a token")
  }
  return lines
}

private func hdf5Kind(_ prefix: [UInt8], _ path: String) -> HDF5FileKind? {
  guard HDF5Library.hasSignature(prefix) else { return nil }
  return HDF5Library.kind(path: path)
}

private func kerasOptions(_ options: ImportOptions) throws -> KerasImportOptions {
  KerasImportOptions(
    hiddenActivation: options.hiddenActivation, outputActivation: options.outputActivation,
    vocabulary: try options.vocabularyPath.map(readVocabularyFile), vocabularyPath: options.vocabularyPath)
}

/// The plain HDF5 layout (docs/HDF5.md).
public struct PlainHDF5Format: ModelFileFormat {
  public init() {}
  public var name: String { PlainHDF5.formatName }
  public var extensions: [String] { [".hdf5", ".h5"] }
  public func sniff(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .plain }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try PlainHDF5.read(
      path: path, hiddenActivation: options.hiddenActivation, outputActivation: options.outputActivation,
      vocabulary: try options.vocabularyPath.map(readVocabularyFile))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try PlainHDF5.write(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras legacy full-model files (`model.save("m.h5")`).
public struct KerasLegacyFormat: ModelFileFormat {
  public init() {}
  public var name: String { Keras.legacyFormatName }
  public var extensions: [String] { [] }
  public func sniff(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .kerasLegacy }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try Keras.readLegacy(path: path, options: kerasOptions(options))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try Keras.writeLegacy(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras 3 weight files (`save_weights("m.weights.h5")`).
public struct KerasWeightsFormat: ModelFileFormat {
  public init() {}
  public var name: String { Keras.weightsFormatName }
  public var extensions: [String] { [".weights.h5"] }
  public func sniff(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .kerasWeights }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try Keras.readWeights(path: path, options: kerasOptions(options))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try Keras.writeWeights(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras 3 `.keras` archives (read only).
public struct KerasArchiveFormat: ModelFileFormat {
  public init() {}
  public var name: String { Keras.archiveFormatName }
  public var extensions: [String] { [".keras"] }
  public func sniff(path: String, prefix: [UInt8]) -> Bool {
    guard prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) else { return false }
    // Keras writes metadata.json and config.json first; look for their names in the local headers.
    let text = String(decoding: prefix, as: UTF8.self)
    return text.contains("config.json") || text.contains("metadata.json")
      || path.lowercased().hasSuffix(".keras")
  }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try Keras.readArchive(path: path, options: kerasOptions(options))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    throw HDF5Error(
      path: path,
      reason: .unsupportedDType(
        "writing .keras archives is not supported; write keras-h5 or keras-weights instead"))
  }
}

extension ModelFormats {
  /// Reads back a file just written in `format`, supplying what that format does not store (the
  /// activations and the vocabulary of Keras files) from `original`.
  public static func readBack(path: String, format: any ModelFileFormat, like original: ElmanModel) throws
    -> ElmanModel
  {
    let options = KerasImportOptions(
      hiddenActivation: original.hiddenActivation, outputActivation: original.outputActivation,
      vocabulary: original.vocabulary?.tokens, vocabularyPath: "the source vocabulary")
    switch format.name {
    case Keras.legacyFormatName: return try Keras.readLegacy(path: path, options: options)
    case Keras.weightsFormatName: return try Keras.readWeights(path: path, options: options)
    case Keras.archiveFormatName: return try Keras.readArchive(path: path, options: options)
    default: return try format.read(path: path, options: ImportOptions())
    }
  }
}
