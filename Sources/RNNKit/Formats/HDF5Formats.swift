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

private func hdf5Kind(_ prefix: [UInt8], _ path: String) -> HDF5FileKind? {
  guard HDF5Library.hasSignature(prefix) else { return nil }
  return HDF5Library.kind(path: path)
}

private func kerasOptions(_ options: ImportOptions) throws -> KerasImportOptions {
  KerasImportOptions(
    hiddenActivation: options.hiddenActivation, outputActivation: options.outputActivation,
    vocabulary: try options.vocabularyPath.map { try readVocabularyFile($0) },
    vocabularyPath: options.vocabularyPath)
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
      vocabulary: try options.vocabularyPath.map { try readVocabularyFile($0) })
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
