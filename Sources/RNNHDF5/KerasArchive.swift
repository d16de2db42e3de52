import Foundation
import KerasConfig
import RNNFileFormats
import RNNFormat
import RNNModel

// `.keras` archives: writing them, the members RNNKit adds to what Keras stores, and reading the
// zip with RNNKit's own checked reader.

extension Keras {
  /// The archive member with the layers (Keras's `config.json`).
  static let configMember = "config.json"
  /// The archive member with the Keras version; Keras's loader does not read it.
  static let metadataMember = "metadata.json"
  /// The archive member with the weights, in the layout of ``writeWeights(_:to:dtype:overwrite:)``.
  static let weightsMember = "model.weights.h5"
  /// The key of `metadata.json` under which RNNKit keeps what Keras has no place for: the
  /// vocabulary, the tokenizer settings and the provenance, as the `.rnn` metadata strings.
  static let rnnkitKey = "rnnkit"
  /// The Keras version the written files claim, the oldest whose layout they follow.
  static let writtenKerasVersion = "3.0.0"

  /// Writes a Keras 3 archive that `keras.models.load_model` loads as
  /// `Input → [Embedding(X, H)] → SimpleRNN(H, return_sequences=True) → Dense(O)` and that
  /// predicts what the model does. Besides Keras's three members it stores the vocabulary,
  /// tokenizer settings and provenance in `metadata.json`, which Keras ignores and
  /// ``readArchive(path:options:)`` reads back. The weights file is built in memory and the
  /// archive written atomically; without `overwrite` an existing `path` is an error. Every weight
  /// is written as `dtype`; without one, f64 parameters stay f64 (in float64 layers) and the
  /// others are written as f32.
  public static func writeArchive(
    _ model: ElmanModel, to path: String, dtype: DType? = nil, overwrite: Bool = false
  ) throws(HDF5Error) {
    if let dtype { _ = try HDF5File.checkWritable(dtype, path: path) }
    try HDF5File.checkWritable(model, path: path, strings: false)
    let config = try archiveConfig(model, dtype: dtype, path: path)
    let metadata = try archiveMetadata(model, path: path)
    try FileSystem.writeAtomically(
      to: path, overwrite: overwrite,
      streaming: { emit throws(HDF5Error) in
        func zipped(_ body: () throws -> Void) throws(HDF5Error) {
          do { try body() } catch { throw hdf5Error(error, path: path) }
        }
        var zip = ZipWriter(sink: emit)
        try zipped { try zip.addStored(name: metadataMember, contents: metadata) }
        try zipped { try zip.addStored(name: configMember, contents: config) }
        try HDF5File.buildImage(path: path, reserving: estimatedSize(of: model, requested: dtype)) {
          root throws(HDF5Error) in
          try fillWeightsFile(root, model: model, dtype: dtype, path: path)
        } consume: { bytes, zeros throws(HDF5Error) in
          guard zeros > 0 else {
            try zipped { try zip.addStored(name: weightsMember, bytes: bytes) }
            return
          }
          // The member's CRC covers the zeros too, so they are written out in one buffer.
          var whole = [UInt8](repeating: 0, count: bytes.count + zeros)
          whole.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
          try zipped { try zip.addStored(name: weightsMember, contents: whole) }
        }
        try zipped { try zip.finish() }
      })
  }

  /// The Keras name of `f`, or nil when Keras's SimpleRNN has no activation that computes it.
  static func kerasActivation(_ f: HiddenActivation) -> String? {
    switch f {
    case .tanh: return "tanh"
    case .relu: return "relu"
    case .sigmoid: return "sigmoid"
    case .identity: return "linear"
    case .softsign: return "softsign"
    case .softplus: return "softplus"
    case .elu: return "elu"
    case .silu: return "silu"
    }
  }

  /// `config.json`: a Sequential model as Keras 3 serialises it, with `build_config` for every
  /// layer so that loading builds the model before it sets the weights. A layer's dtype policy is
  /// float64 when its weights are written as f64 (see ``LayerPolicies``).
  static func archiveConfig(_ model: ElmanModel, dtype: DType?, path: String) throws(HDF5Error) -> [UInt8] {
    guard let hidden = kerasActivation(model.hiddenActivation) else {
      throw HDF5Error(
        path: path,
        reason: .unsupportedArchitecture(
          "hidden activation \(model.hiddenActivation.rawValue) has no Keras SimpleRNN equivalent"))
    }
    let none = NSNull()
    func policy(_ name: String) -> [String: Any] {
      ["module": "keras", "class_name": "DTypePolicy", "config": ["name": name], "registered_name": none]
    }
    let policies = LayerPolicies(model, requested: dtype)
    func layer(_ className: String, _ config: [String: Any], built inputShape: [Any]?) -> [String: Any] {
      var layer: [String: Any] = [
        "module": "keras.layers", "class_name": className, "config": config, "registered_name": none,
      ]
      if let inputShape { layer["build_config"] = ["input_shape": inputShape] }
      return layer
    }
    let tokens = model.inputKind == .tokens
    let h = model.hiddenSize
    let inputShape: [Any] = tokens ? [none, none] : [none, none, model.inputSize]
    var layers = [
      layer(
        "InputLayer",
        [
          "batch_shape": inputShape, "dtype": tokens ? "int32" : policies.rnn, "sparse": false,
          "ragged": false, "name": "input_layer", "optional": false,
        ], built: nil)
    ]
    if tokens {
      layers.append(
        layer(
          "Embedding",
          [
            "name": "embedding", "trainable": true, "dtype": policy(policies.embedding),
            "input_dim": model.inputSize, "output_dim": h, "mask_zero": false,
          ], built: inputShape))
    }
    layers.append(
      layer(
        "SimpleRNN",
        [
          "name": "simple_rnn", "trainable": true, "dtype": policy(policies.rnn), "units": h,
          "activation": hidden, "use_bias": true, "return_sequences": true, "return_state": false,
          "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": false,
          "dropout": 0.0, "recurrent_dropout": 0.0,
        ], built: [none, none, tokens ? h : model.inputSize]))
    layers.append(
      layer(
        "Dense",
        [
          "name": "dense", "trainable": true, "dtype": policy(policies.dense), "units": model.outputSize,
          "activation": KerasMapping.kerasName(model.outputActivation), "use_bias": true,
        ], built: [none, none, h]))
    let root: [String: Any] = [
      "module": "keras", "class_name": "Sequential", "registered_name": none,
      "config": [
        "name": kerasModelName(model.provenance.name), "trainable": true, "dtype": policy("float32"),
        "layers": layers, "build_input_shape": inputShape,
      ],
      "build_config": ["input_shape": inputShape], "compile_config": [String: Any](),
    ]
    return try json(root, member: configMember, path: path)
  }

  /// `metadata.json`: the Keras version, and under ``rnnkitKey`` the `.rnn` metadata as strings
  /// (StringMetadata, as in safetensors and PyTorch files).
  static func archiveMetadata(_ model: ElmanModel, path: String) throws(HDF5Error) -> [UInt8] {
    let strings: [String: String]
    do { strings = try StringMetadata(describing: model).values } catch {
      throw HDF5Error(path: path, part: metadataMember, reason: .invalid("\(error)"))
    }
    let bytes = try json(
      ["keras_version": writtenKerasVersion, rnnkitKey: strings], member: metadataMember, path: path)
    // What is written must read back.
    let limit = KerasImportOptions().maxMetadataBytes
    guard bytes.count <= limit else {
      throw HDF5Error(
        path: path, part: metadataMember,
        reason: .invalid(
          "would take \(bytes.count) bytes (mostly the vocabulary), over the \(limit) a reader accepts"))
    }
    return bytes
  }

  private static func json(_ object: [String: Any], member: String, path: String) throws(HDF5Error) -> [UInt8]
  {
    do {
      return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    } catch {
      throw HDF5Error(path: path, part: member, reason: .invalid("cannot be encoded as JSON: \(error)"))
    }
  }

  /// The strings RNNKit stored under ``rnnkitKey`` in `metadata.json`, nil when the archive has
  /// none (as in archives Keras wrote).
  static func storedStrings(_ members: ArchiveMembers, limit: Int) throws(HDF5Error) -> StringMetadata? {
    guard members.contains(metadataMember) else { return nil }
    let content = try members.extract(metadataMember, limit: limit)
    func fail(_ reason: String) -> HDF5Error {
      HDF5Error(path: members.path, part: metadataMember, reason: .invalid(reason))
    }
    let value: JSONValue
    do {
      value = try withExtendedLifetime(content) { () throws(JSONError) in
        try JSONParser.parse(content.bytes, maxDepth: 3)
      }
    } catch {
      throw fail("is not JSON: \(error)")
    }
    guard let object = value.object else { throw fail("is not a JSON object") }
    guard let stored = object[rnnkitKey] else { return nil }
    guard let entries = stored.object else { throw fail("\"\(rnnkitKey)\" is not an object") }
    var values: [String: String] = [:]
    for (key, item) in entries {
      guard let text = item.string else { throw fail("\"\(rnnkitKey)\".\"\(key)\" is not a string") }
      values[key] = text
    }
    return StringMetadata(values)
  }

  /// The vocabulary stored in `metadata.json`, if any.
  static func storedTokens(_ stored: StringMetadata, path: String) throws(HDF5Error) -> [String]? {
    do {
      return try stored.storedTokens { _, reason, _ in
        HDF5Error(path: path, part: metadataMember, reason: .invalid(reason))
      }
    } catch {
      throw hdf5Error(error, path: path, part: metadataMember)
    }
  }

  /// Refuses stored strings that describe another model than `config.json`: an archive whose
  /// members disagree was edited, and either reading could be wrong.
  static func checkAgreement(
    _ stored: StringMetadata, _ arch: KerasArchitecture, options: KerasImportOptions, path: String
  ) throws(HDF5Error) {
    func fail(_ reason: String) -> HDF5Error {
      HDF5Error(path: path, part: metadataMember, reason: .invalid(reason))
    }
    let kind: InputKind = arch.embedding == nil ? .dense : .tokens
    if let text = stored.values[Schema.inputKind], text != kind.rawValue {
      let layers =
        kind == .dense
        ? "has no Embedding layer (dense inputs)" : "starts with an Embedding layer (token inputs)"
      throw fail("describes a model with \(text) inputs, but config.json \(layers)")
    }
    if options.hiddenActivation == nil, let text = stored.values[Schema.hiddenActivation],
      let declared = arch.rnn.activation, HiddenActivation(name: text) != HiddenActivation(name: declared)
    {
      throw fail("gives hidden activation \(text), but config.json gives \(declared)")
    }
    if options.outputActivation == nil, let text = stored.values[Schema.outputActivation],
      let declared = arch.dense.activation, OutputActivation(name: text) != OutputActivation(name: declared)
    {
      throw fail("gives output activation \(text), but config.json gives \(declared)")
    }
  }
}

/// The members of a `.keras` archive, read with RNNKit's zip reader, which checks every size and
/// offset against the file and refuses two members of one name (Keras, through Python's zipfile,
/// reads the last of them; a reader taking the first would see another model).
struct ArchiveMembers {
  let zip: ZipArchive
  let path: String

  /// Maps the archive and reads its directory, with at most `limit` members.
  init(path: String, limit: Int) throws(HDF5Error) {
    self.path = path
    do {
      zip = try ZipArchive(mapping: path, limits: ZipLimits(maxEntries: limit))
    } catch let error as ZipError {
      throw HDF5Error(path: path, part: error.part, reason: .invalid(error.reason))
    } catch {
      throw HDF5Error(path: path, reason: .invalid("is not a readable zip archive (\(error))"))
    }
  }

  /// Whether the archive has a member called `name`.
  func contains(_ name: String) -> Bool { zip.entry(named: name) != nil }

  /// The bytes of member `name`: in place in the mapped archive when stored, inflated once when
  /// deflated. A member that claims more than `limit` bytes is refused before anything is
  /// inflated. The CRC-32 is checked.
  func extract(_ name: String, limit: Int, reason: String = "") throws(HDF5Error) -> ZipContent {
    guard let entry = zip.entry(named: name) else {
      throw HDF5Error(path: path, part: name, reason: .missing)
    }
    guard entry.uncompressedSize <= limit else {
      throw HDF5Error(
        path: path, part: name,
        reason: .invalid(
          "inflates to \(entry.uncompressedSize) bytes, over the limit of \(limit)\(reason.isEmpty ? "" : " " + reason)"
        ))
    }
    do { return try zip.content(of: entry) } catch {
      throw HDF5Error(path: path, part: name, reason: .invalid("is corrupt (\(error.reason))"))
    }
  }
}
