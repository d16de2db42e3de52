import Foundation
import RNNFormat
import RNNModel

/// ONNX models (`.onnx`): a protobuf ModelProto whose graph runs the Elman network with the
/// standard `RNN` operator, or a `Scan` for silu, which that operator lacks (docs/ONNX.md).
///
/// RNNKit writes opset 17 graphs with inputs `tokens` (or `inputs`) and `initial_hidden` and
/// outputs `hidden`, `output` and `final_hidden`, with the vocabulary, tokenizer settings and
/// activations in `metadata_props`. It reads those, and the graphs `torch.onnx.export` makes of
/// `nn.RNN` (with `nn.Embedding` or one-hot input) and `nn.Linear`. The protobuf reader is RNNKit's
/// own, capped and fuzzed, so files read in-process. External data is refused.
public struct ONNXFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "onnx" }
  public var summary: String {
    "ONNX (opset 17): the RNN operator and a MatMul head, with the rest in metadata_props"
  }
  public var extensions: [String] { [".onnx"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32] }
  public var readIsolation: ReadIsolation { .inProcess }

  static let vocabularyKey = "rnnkit.vocabulary"

  /// Every ONNX writer (onnx, PyTorch, tf2onnx, RNNKit) serializes fields in number order, so a
  /// ModelProto starts with `ir_version` (field 1, a varint from 3 to 12), then another ModelProto
  /// field: producer_name (2) to opset_import (8), each length-delimited except model_version (5).
  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    guard prefix.count >= 3, prefix[0] == 0x08, (3...12).contains(prefix[1]) else { return false }
    return [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42].contains(prefix[2])
  }

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    let storage: ByteStorage
    do {
      storage = try ByteStorage(mapping: path)
    } catch {
      throw ONNXError(path: path, part: "file", reason: error.description)
    }
    let decoded: ONNXModel
    do {
      decoded = try withExtendedLifetime(storage) { () throws(ProtobufError) -> ONNXModel in
        try ONNXModel(decoding: storage.bytes, limits: ONNXLimits())
      }
    } catch {
      throw ONNXError(path: path, part: error.part, reason: error.reason)
    }
    do {
      var importer = try ONNXImport(model: decoded, options: options, formatName: name)
      return try importer.elmanModel()
    } catch let failure as ONNXImportFailure {
      throw ONNXError(
        path: path, part: failure.part, reason: failure.reason, requestedInput: failure.requestedInput)
    } catch let error as ModelError {
      throw ModelFileError(path: path, error: error)
    }
  }

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.checkWritable(to: path)
    if let dtype = options.dtype, dtype != .f32 {
      throw ONNXError(
        path: path, part: "dtype", reason: "RNNKit writes ONNX weights as f32 only, not \(dtype)")
    }
    let pieces: [[UInt8]]
    do {
      pieces = try ONNXExport.model(for: model).encodedPieces()
    } catch {
      throw ONNXError(path: path, part: "model", reason: error.reason)
    }
    do {
      try AtomicFile.write(to: path, overwrite: options.overwrite) { emit in
        for piece in pieces { try piece.withUnsafeBytes { try emit($0) } }
      }
    } catch FormatError.destinationExists {
      throw ONNXError(path: path, part: "output", reason: "already exists", requestedInput: .overwrite)
    }
  }
}
