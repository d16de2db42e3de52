import Foundation
import RNNFormat
import RNNHDF5
import RNNModel

// The formats libhdf5 reads. libhdf5 is a C library RNNKit does not own, so each of them reads in
// isolation (`ReadIsolation.childProcess`), and recognising them opens the file with libhdf5.

/// libhdf5 finds the signature itself, behind a user block of any size, so the prefix is not used.
private func hdf5Kind(_ prefix: [UInt8], _ path: String) -> HDF5FileKind? {
  HDF5Library.kind(path: path)
}

private func kerasOptions(_ options: ImportOptions) throws -> KerasImportOptions {
  var keras = KerasImportOptions(
    hiddenActivation: options.hiddenActivation, outputActivation: options.outputActivation,
    vocabulary: try options.suppliedVocabulary(), vocabularyPath: options.vocabularySource)
  keras.standIns = options.standIns
  return keras
}

/// The plain HDF5 layout (docs/HDF5.md).
public struct PlainHDF5Format: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { PlainHDF5.formatName }
  public var summary: String { "plain HDF5 layout (docs/HDF5.md): W, b, V, c, vocab and attributes" }
  public var extensions: [String] { [".hdf5", ".h5"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .f64] }
  public var readIsolation: ReadIsolation { .childProcess }
  public func recognizes(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .plain }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try PlainHDF5.read(
      path: path, hiddenActivation: options.hiddenActivation, outputActivation: options.outputActivation,
      vocabulary: try options.suppliedVocabulary())
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try PlainHDF5.write(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras legacy full-model files (`model.save("m.h5")`).
public struct KerasLegacyFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { Keras.legacyFormatName }
  public var summary: String { "Keras full-model HDF5 (model.save(\"m.h5\")); stores no vocabulary" }
  public var extensions: [String] { [] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .f64] }
  public var readIsolation: ReadIsolation { .childProcess }
  public func recognizes(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .kerasLegacy }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try Keras.readLegacy(path: path, options: kerasOptions(options))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try Keras.writeLegacy(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras 3 weight files (`save_weights("m.weights.h5")`).
public struct KerasWeightsFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { Keras.weightsFormatName }
  public var summary: String { "Keras 3 weights (.weights.h5); stores neither vocabulary nor activations" }
  public var extensions: [String] { [".weights.h5"] }
  public var capabilities: FormatCapabilities { [.read, .write] }
  public var writableDTypes: [DType] { [.f32, .f16, .f64] }
  public var readIsolation: ReadIsolation { .childProcess }
  public func recognizes(path: String, prefix: [UInt8]) -> Bool { hdf5Kind(prefix, path) == .kerasWeights }
  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    try Keras.readWeights(path: path, options: kerasOptions(options))
  }
  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try Keras.writeWeights(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}

/// Keras 3 `.keras` archives (`model.save("m.keras")`).
public struct KerasArchiveFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { Keras.archiveFormatName }
  public var summary: String {
    "Keras 3 archives (.keras); RNNKit keeps the vocabulary in metadata.json, which Keras ignores"
  }
  public var extensions: [String] { [".keras"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .f64] }
  public var readIsolation: ReadIsolation { .childProcess }
  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
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
    try Keras.writeArchive(model, to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}
