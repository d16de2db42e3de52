import Foundation
import RNNFormat
import RNNModel

/// PyTorch `torch.save` files (`.pt`, `.pth`) holding a state dict of `nn.RNN` + `nn.Linear`
/// (+ optional `nn.Embedding`), or a training checkpoint dict that contains one.
///
/// Read without running anything: RNNKit's own zip reader and a restricted unpickler that knows
/// only the globals a state dict uses (see docs/PYTORCH.md). Written as a state dict that
/// `torch.load(path, weights_only=True)` reads and `load_state_dict` loads into
/// `nn.RNN(X, H, nonlinearity=f, batch_first=True)` as `rnn` and `nn.Linear(H, O)` as `fc`; the
/// activations and vocabulary go in an archive entry torch ignores, `archive/extra/rnnkit.json`.
public struct PyTorchFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "pytorch" }
  public var summary: String { "PyTorch torch.save state dict (.pt, .pth): nn.RNN + nn.Linear" }
  public var extensions: [String] { [".pt", ".pth"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .bf16, .f64] }
  public var readIsolation: ReadIsolation { .inProcess }

  /// Storage alignment, as torch writes it (`.storage_alignment`).
  static let alignment = 64

  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    if prefix.starts(with: TorchArchive.legacyMagic) { return true }
    guard prefix.starts(with: TorchArchive.zipMagic),
      let zip = try? ZipArchive(storage: ByteStorage(mapping: path))
    else { return false }
    return zip.entries.contains { entry in
      entry.name.hasSuffix("/data.pkl")
        && entry.name.split(separator: "/", omittingEmptySubsequences: false).count == 2
    }
  }

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    let archive = try TorchArchive(path: path)
    let tensors = try archive.stateDict(key: options.stateDictKey)
    return try TorchStateDict.model(
      tensors, metadata: try archive.metadata(), options: options, sourceFormat: name, path: path)
  }

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.checkWritable(to: path)
    // f32 by default; a model stored in f64 stays f64, exactly.
    let dtype = options.dtype ?? (model.isStoredInF64 ? .f64 : .f32)
    let storageClass: String
    switch dtype {
    case .f32: storageClass = "FloatStorage"
    case .f16: storageClass = "HalfStorage"
    case .bf16: storageClass = "BFloat16Storage"
    case .f64: storageClass = "DoubleStorage"
    default: throw PyTorchError(path: path, part: "dtype", reason: "\(dtype) is not written to PyTorch files")
    }
    if dtype == .f32, let stored = try StoredStateDict(model, path: path) {
      try stored.withParts { tensors in
        try writeArchive(
          model, tensors: tensors.map { ($0.name, $0.shape) }, storageClass: storageClass, to: path,
          options: options
        ) { zip, entry in
          for (k, tensor) in tensors.enumerated() {
            try zip.addStored(name: entry(k), parts: tensor.parts, alignment: Self.alignment)
          }
        }
      }
      return
    }
    let tensors: [(name: String, shape: [Int], bytes: [UInt8])]
    if dtype == .f64 {
      tensors = try TorchStateDict.tensors(of: model, path: path) { $0.doubles() }.map {
        ($0.name, $0.shape, $0.values.withUnsafeBytes { [UInt8]($0) })
      }
    } else {
      tensors = try TorchStateDict.tensors(of: model, path: path).map {
        ($0.name, $0.shape, $0.values.withUnsafeBufferPointer { FloatCodec.encode($0, as: dtype) })
      }
    }
    try writeArchive(
      model, tensors: tensors.map { ($0.name, $0.shape) }, storageClass: storageClass, to: path,
      options: options
    ) { zip, entry in
      for (k, tensor) in tensors.enumerated() {
        try zip.addStored(name: entry(k), contents: tensor.bytes, alignment: Self.alignment)
      }
    }
  }

  /// Writes the archive of a state dict of `tensors`, whose data entries `addData` adds (the
  /// k-th under the name `entry(k)`), with `model`'s metadata.
  private func writeArchive(
    _ model: ElmanModel, tensors: [(name: String, shape: [Int])], storageClass: String, to path: String,
    options: ExportOptions, addData: (inout ZipWriter, (Int) -> String) throws -> Void
  ) throws {
    let metadata = try JSONSerialization.data(
      withJSONObject: try StringMetadata(describing: model).values, options: [.sortedKeys])
    do {
      try AtomicFile.write(to: path, overwrite: options.overwrite) { emit in
        var zip = ZipWriter { bytes in try bytes.withUnsafeBytes { try emit($0) } }
        let folder = "archive/"
        try zip.addStored(
          name: folder + "data.pkl", contents: PickleWriter.stateDict(tensors, storageClass: storageClass))
        try zip.addStored(name: folder + ".format_version", contents: Array("1".utf8))
        try zip.addStored(name: folder + ".storage_alignment", contents: Array(String(Self.alignment).utf8))
        try zip.addStored(name: folder + "byteorder", contents: Array("little".utf8))
        try addData(&zip) { folder + "data/\($0)" }
        try zip.addStored(name: folder + TorchArchive.metadataEntry, contents: [UInt8](metadata))
        try zip.addStored(name: folder + "version", contents: Array("3\n".utf8))
        try zip.finish()
      }
    } catch FormatError.destinationExists {
      throw PyTorchError(path: path, part: "output", reason: "already exists", requestedInput: .overwrite)
    }
  }
}
