import Foundation
import RNNFormat
import RNNModel

/// safetensors files (the Hugging Face format) with RNNKit's tensor names.
///
/// RNNKit writes W, b, V and c, and puts everything else the model needs in `__metadata__` (which
/// holds strings only): the `.rnn` metadata keys, with booleans as `true`/`false`, and the
/// vocabulary as a JSON array under `rnnkit.vocabulary`. Files from elsewhere that hold W, b, V and
/// c read too, with the activations and vocabulary from the command-line flags. Files with PyTorch
/// `nn.RNN` names are ``TorchSafetensorsFormat``'s.
public struct SafetensorsFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "safetensors" }
  public var summary: String { "safetensors (Hugging Face): W, b, V, c, with the rest in __metadata__" }
  public var extensions: [String] { [".safetensors"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .bf16, .f64] }
  public var readIsolation: ReadIsolation { .inProcess }

  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    guard SafetensorsFile.looksLikeSafetensors(prefix) else { return false }
    // A readable file with PyTorch names and no W belongs to the torch-named format.
    if let file = try? SafetensorsFile(path: path), file.entries["W"] == nil,
      TorchStateDict.holdsRNN(Array(file.entries.keys))
    {
      return false
    }
    return true
  }

  // MARK: Reading

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    let file = try SafetensorsFile(path: path)
    let metadata = StringMetadata(file.metadata)
    let fail = { (key: String, reason: String, input: ModelInput?) -> any Error in
      file.fail("__metadata__", reason, input)
    }
    let f = try metadata.activation(
      Schema.hiddenActivation, options.hiddenActivation, HiddenActivation.init(name:),
      input: .hiddenActivation, standIn: options.standIns ? .tanh : nil, fail: fail)
    let g = try metadata.activation(
      Schema.outputActivation, options.outputActivation, OutputActivation.init(name:),
      input: .outputActivation, standIn: options.standIns ? .softmax : nil, fail: fail)
    let tokens = try metadata.tokens(options: options, fail: fail)
    do {
      return try ElmanModel(
        W: file.parameter("W"), b: file.parameter("b"), V: file.parameter("V"), c: file.parameter("c"),
        hiddenActivation: f, outputActivation: g, inputKind: tokens == nil ? .dense : .tokens,
        vocabulary: tokens.map(Vocabulary.init), tokenizer: metadata.tokenizer(tokens: tokens),
        provenance: metadata.provenance(sourceFormat: name))
    } catch let error as ModelError {
      throw ModelFileError(path: path, error: error)
    }
  }

  // MARK: Writing

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.checkWritable(to: path)
    let parameters = [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)]
    // f32 by default; a model stored in f64 stays f64, its stored bytes copied as they are.
    let dtype = options.dtype ?? (model.isStoredInF64 ? .f64 : .f32)
    try SafetensorsFile.write(
      sources: parameters.map { name, parameter in parameter.source(name: name, dtype: dtype) },
      metadata: try StringMetadata(describing: model).values, to: path, overwrite: options.overwrite)
  }
}

/// Writes a header followed by the tensors, packed, atomically, through the `.rnn` writer's
/// streaming path (chunked writes, write-behind for a durable file).
enum RawFileWriter {
  static func write(prefix: [UInt8], tensors: [TensorSource], to path: String, overwrite: Bool) throws {
    do {
      try ContainerWriter.writeRaw(prefix: prefix, tensors: tensors, to: path, overwrite: overwrite)
    } catch {
      if case .destinationExists = error.error {
        throw SafetensorsError(
          path: path, part: "output", reason: "already exists", requestedInput: .overwrite)
      }
      throw SafetensorsError(path: path, part: "output", reason: error.error.description)
    }
  }
}
