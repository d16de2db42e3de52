import RNNFormat
import RNNModel

/// The native `.rnn` container (docs/FORMAT.md).
public struct RNNFileFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "rnn" }
  public var summary: String { "RNNKit's native container (.rnn): memory-mapped, checksummed" }
  public var extensions: [String] { [".rnn"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  /// i8 quantizes V per row (docs/FORMAT.md, "Quantized weights"); W, b and c keep their dtypes.
  public var writableDTypes: [DType] { [.f32, .f16, .bf16, .f64, .i8] }
  public var readIsolation: ReadIsolation { .inProcess }

  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    prefix.starts(with: Layout.magic)
  }

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    var model = try ElmanModel.load(path: path, options: options.readOptions)
    if let f = options.hiddenActivation { model.hiddenActivation = f }
    if let g = options.outputActivation { model.outputActivation = g }
    return model
  }

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.write(to: path, dtype: options.dtype, overwrite: options.overwrite)
  }
}
