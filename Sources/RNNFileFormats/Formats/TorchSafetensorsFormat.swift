import Foundation
import RNNFormat
import RNNModel

/// safetensors files holding a PyTorch state dict: `nn.RNN` keys (`P.weight_ih_l0`, …) under any
/// module prefix, the `nn.Linear` output layer and an optional `nn.Embedding`, mapped as for `.pt`
/// files (docs/PYTORCH.md). Activations and vocabulary come from the options or `__metadata__`.
///
/// A separate format from ``SafetensorsFormat`` (RNNKit's W, b, V, c names) because the tensors
/// differ: detection tells them apart by the keys; `.safetensors` output stays RNNKit-named unless
/// this format is asked for by name.
public struct TorchSafetensorsFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "torch-safetensors" }
  public var summary: String { "safetensors with PyTorch names: rnn.weight_ih_l0, …, fc.weight, fc.bias" }
  public var extensions: [String] { [".safetensors"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .bf16, .f64] }
  public var readIsolation: ReadIsolation { .inProcess }

  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    guard SafetensorsFile.looksLikeSafetensors(prefix), let file = try? SafetensorsFile(path: path) else {
      return false
    }
    return file.entries["W"] == nil && TorchStateDict.holdsRNN(file.entries.keys)
  }

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    let file = try SafetensorsFile(path: path)
    var tensors: [String: StateDictTensor] = [:]
    for (key, entry) in file.entries {
      tensors[key] = StateDictTensor(shape: entry.shape) { try file.parameter(key) }
    }
    return try TorchStateDict.model(
      tensors, metadata: StringMetadata(file.metadata), options: options, sourceFormat: name, path: path)
  }

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.checkWritable(to: path)
    let metadata = try StringMetadata(describing: model).values
    // f32 by default; a model stored in f64 stays f64, exactly.
    let dtype = options.dtype ?? (model.isStoredInF64 ? .f64 : .f32)
    guard dtype == .f64 else {
      try SafetensorsFile.write(
        try TorchStateDict.tensors(of: model, path: path), dtype: dtype, metadata: metadata, to: path,
        overwrite: options.overwrite)
      return
    }
    let sources = try TorchStateDict.tensors(of: model, path: path) { $0.doubles() }.map {
      TensorSource(
        name: $0.name, dtype: .f64, shape: $0.shape, payload: .raw($0.values.withUnsafeBytes { [UInt8]($0) }))
    }
    try SafetensorsFile.write(sources: sources, metadata: metadata, to: path, overwrite: options.overwrite)
  }
}
