import Foundation
import KerasConfig
import RNNFormat
import RNNModel

/// Keras 3 files holding an optional Embedding, one SimpleRNN and one Dense layer: legacy
/// full-model `.h5`, `.weights.h5` and `.keras` archives.
public enum Keras {
  /// The registry name of Keras full-model HDF5 files.
  public static let legacyFormatName = "keras-h5"
  /// The registry name of Keras 3 weight files.
  public static let weightsFormatName = "keras-weights"
  /// The registry name of Keras 3 archives.
  public static let archiveFormatName = "keras"

  // MARK: Import

  /// Reads a legacy full-model file (`model.save("m.h5")`). Layers and activations come from the
  /// `model_config` attribute, datasets from the `layer_names` and `weight_names` attributes.
  public static func readLegacy(path: String, options: KerasImportOptions = KerasImportOptions())
    throws(HDF5Error) -> ElmanModel
  {
    try HDF5File.withFile(path: path) { reader throws(HDF5Error) in
      guard let configText = try reader.stringAttribute("model_config") else {
        throw reader.fail("attribute \"model_config\" of /", .missing)
      }
      guard configText.utf8.count <= options.maxConfigBytes else {
        throw reader.fail(
          "attribute \"model_config\" of /",
          .invalid("has \(configText.utf8.count) bytes, over the limit of \(options.maxConfigBytes)"))
      }
      let arch = try KerasArchitecture.parse(json: configText, path: path, part: "attribute \"model_config\"")
      let weightsRoot = try reader.group("model_weights")
      let layerNames = try reader.stringArrayAttribute("layer_names", of: weightsRoot)

      func layerWeights(_ layer: KerasLayer, _ wanted: [String], optional: Set<String> = []) throws(HDF5Error)
        -> [String: KerasTensor]
      {
        if let layerNames, !layerNames.contains(layer.name) {
          throw reader.fail(
            "attribute \"layer_names\" of /model_weights",
            .invalid("does not list layer \"\(layer.name)\" (it lists \(layerNames.joined(separator: ", ")))")
          )
        }
        let group = try reader.group(layer.name, in: weightsRoot)
        guard let names = try reader.stringArrayAttribute("weight_names", of: group) else {
          throw reader.fail("attribute \"weight_names\" of \(group.path)", .missing)
        }
        var result: [String: KerasTensor] = [:]
        for (index, name) in names.enumerated() {
          // "simple_rnn/simple_rnn_cell/recurrent_kernel" or Keras 2's ".../recurrent_kernel:0".
          var short = String(name.split(separator: "/").last ?? "")
          if let colon = short.firstIndex(of: ":") { short = String(short[..<colon]) }
          let key = wanted.contains(short) ? short : (index < wanted.count ? wanted[index] : short)
          guard wanted.contains(key) else { continue }
          result[key] = try reader.kerasTensor(reader.dataset(name, in: group))
        }
        for key in wanted where result[key] == nil && !optional.contains(key) {
          throw reader.fail(
            group.path, .invalid("has no \(key) weight (weight_names: \(names.joined(separator: ", ")))"))
        }
        return result
      }

      var embedding: KerasTensor?
      if let layer = arch.embedding { embedding = try layerWeights(layer, ["embeddings"])["embeddings"] }
      let rnn = try layerWeights(
        arch.rnn, ["kernel", "recurrent_kernel", "bias"], optional: arch.rnn.useBias ? [] : ["bias"])
      let dense = try layerWeights(
        arch.dense, ["kernel", "bias"], optional: arch.dense.useBias ? [] : ["bias"])
      let weights = KerasWeights(
        embedding: embedding, kernel: rnn["kernel"]!, recurrentKernel: rnn["recurrent_kernel"]!,
        bias: rnn["bias"],
        denseKernel: dense["kernel"]!, denseBias: dense["bias"])
      return try KerasMapping.model(
        weights: weights, hidden: arch.rnn.activation, output: arch.dense.activation, options: options,
        path: path,
        format: legacyFormatName, modelName: arch.modelName, activationSource: "the model config",
        declared: arch)
    }
  }

  /// Reads a Keras 3 weights file (`save_weights("m.weights.h5")`), or a tf.keras 2.x one
  /// (`save_weights("m.h5")`). Neither stores activations, so they come from `options`.
  public static func readWeights(path: String, options: KerasImportOptions = KerasImportOptions())
    throws(HDF5Error) -> ElmanModel
  {
    try HDF5File.withFile(path: path) { reader throws(HDF5Error) in
      // tf.keras 2.x `save_weights("m.h5")` lists its layers by name at the root.
      let named = hasNamedLayers(reader)
      let weights =
        try named ? namedLayerTensors(reader, in: reader.root) : weightsFileTensors(reader, architecture: nil)
      return try KerasMapping.model(
        weights: weights, hidden: nil, output: nil, options: options, path: path, format: weightsFormatName,
        modelName: nil, activationSource: named ? "a tf.keras weights file" : "a .weights.h5 file")
    }
  }

  /// Reads a `.keras` archive: `config.json` for the layers and activations, `model.weights.h5`
  /// for the weights, and what RNNKit stored in `metadata.json` (vocabulary, tokenizer settings,
  /// provenance) when it wrote the archive. The weights member is read in place in the mapped
  /// archive when stored, or inflated once into one buffer that libhdf5 reads in place, and only
  /// when its size fits what the config's layers can need (and
  /// ``KerasImportOptions/maxArchiveMemberBytes``).
  public static func readArchive(path: String, options: KerasImportOptions = KerasImportOptions())
    throws(HDF5Error) -> ElmanModel
  {
    let size = try FileSystem.regularFileSize(path)
    guard size > 0 else { throw HDF5Error(path: path, reason: .invalid("is empty (0 bytes)")) }
    let members = try ArchiveMembers(path: path, limit: options.maxArchiveMembers)
    let config = try members.extract(configMember, limit: options.maxConfigBytes)
    let arch = try withExtendedLifetime(config) { () throws(HDF5Error) in
      try KerasArchitecture.parse(json: config.bytes, path: path, part: configMember)
    }
    var options = options
    let stored = try storedStrings(members, limit: options.maxMetadataBytes)
    if let stored {
      try checkAgreement(stored, arch, options: options, path: path)
      if options.vocabulary == nil {
        options.vocabulary = try storedTokens(stored, path: path)
        if options.vocabulary != nil { options.vocabularyPath = "\(path): \(metadataMember)" }
      }
    }
    // A weights file for these layers needs about this much; a member claiming more is refused
    // before a byte of it is inflated.
    let limit = min(options.maxArchiveMemberBytes, arch.weightsFileBound ?? .max)
    let image = try members.extract(
      weightsMember, limit: limit, reason: "for the layers config.json declares")
    // libhdf5 opens the image read-only and never writes to it (see rnnkit_set_image_in_place).
    let bytes = UnsafeMutableRawBufferPointer(mutating: image.bytes)
    var model = try withExtendedLifetime(image) { () throws(HDF5Error) in
      try HDF5File.withImage(bytes, name: "\(path): \(weightsMember)") { reader throws(HDF5Error) in
        try KerasMapping.model(
          weights: weightsFileTensors(reader, architecture: arch), hidden: arch.rnn.activation,
          output: arch.dense.activation, options: options, path: path, format: archiveFormatName,
          modelName: arch.modelName, activationSource: configMember, declared: arch)
      }
    }
    if let stored {
      if model.inputKind == .tokens { model.tokenizer = stored.tokenizer(tokens: model.vocabulary?.tokens) }
      model.provenance = stored.provenance(sourceFormat: archiveFormatName)
    }
    return model
  }

  /// The tensors of a Keras 3 weights file. With an architecture (from `config.json`) the layer
  /// groups are named from it; without one they are recognised by their structure.
  static func weightsFileTensors(_ reader: H5Reader, architecture: KerasArchitecture?) throws(HDF5Error)
    -> KerasWeights
  {
    let layers = try reader.group("layers")
    func vars(_ group: H5Location) throws(HDF5Error) -> [KerasTensor] {
      guard group.exists("vars") else { return [] }
      let varsGroup = try reader.group("vars", in: group)
      let names = try reader.children(of: varsGroup)
      var tensors: [KerasTensor] = []
      // Variables are numbered 0, 1, 2 ... in the layer's own order.
      for index in 0..<names.count {
        guard names.contains(String(index)) else {
          throw reader.fail(
            varsGroup.path, .invalid("variables are not numbered 0..<\(names.count): \(names.sorted())"))
        }
        tensors.append(try reader.kerasTensor(reader.dataset(String(index), in: varsGroup)))
      }
      return tensors
    }

    var embedding: KerasTensor?
    var cell: [KerasTensor] = []
    var dense: [KerasTensor] = []
    var cellPath = ""
    if let arch = architecture {
      if let layer = arch.embedding {
        let group = try reader.group(layer.weightsPath, in: layers)
        let v = try vars(group)
        guard v.count == 1 else {
          throw reader.fail(group.path, .invalid("has \(v.count) variables, expected 1 (embeddings)"))
        }
        embedding = v[0]
      }
      let rnn = try reader.group(arch.rnn.weightsPath, in: layers)
      cellPath = rnn.child("cell")
      cell = try vars(reader.group("cell", in: rnn))
      dense = try vars(reader.group(arch.dense.weightsPath, in: layers))
      let expectedCell = arch.rnn.useBias ? 3 : 2
      guard cell.count == expectedCell else {
        throw reader.fail(cellPath, .invalid("has \(cell.count) variables, expected \(expectedCell)"))
      }
      let expectedDense = arch.dense.useBias ? 2 : 1
      guard dense.count == expectedDense else {
        throw reader.fail(
          layers.child(arch.dense.weightsPath),
          .invalid("has \(dense.count) variables, expected \(expectedDense)"))
      }
    } else {
      var recurrent: [String] = []
      var denseNames: [String] = []
      for name in try reader.children(of: layers) {
        let group = try reader.group(name, in: layers)
        if group.exists("forward_layer") || group.exists("backward_layer") {
          throw reader.fail(
            group.path, .unsupportedArchitecture("bidirectional recurrent layers are not supported"))
        }
        if group.exists("cell") {
          if name.hasPrefix("lstm") || name.hasPrefix("gru") {
            throw reader.fail(
              group.path,
              .unsupportedArchitecture(
                "layer type \(name.hasPrefix("lstm") ? "LSTM" : "GRU") is not supported; RNNKit supports only SimpleRNN"
              ))
          }
          recurrent.append(name)
          cellPath = group.child("cell")
          cell = try vars(reader.group("cell", in: group))
          continue
        }
        if group.exists("layer") {
          // A wrapper keeps its layer's variables under `layer`; TimeDistributed(Dense) computes
          // Dense on the SimpleRNN's sequence output.
          let wrapped = try vars(reader.group("layer", in: group))
          guard name.hasPrefix("time_distributed"), wrapped.count == 1 || wrapped.count == 2 else {
            throw reader.fail(
              group.path,
              .unsupportedArchitecture(
                "unknown wrapper layer with \(wrapped.count) variables; supported: TimeDistributed(Dense)"))
          }
          denseNames.append(name)
          dense = wrapped
          continue
        }
        let v = try vars(group)
        if v.isEmpty { continue }  // Input layers and other weightless layers.
        if name.hasPrefix("embedding") && v.count == 1 {
          guard embedding == nil else {
            throw reader.fail(group.path, .unsupportedArchitecture("more than one Embedding layer"))
          }
          embedding = v[0]
        } else if name.hasPrefix("dense") && (v.count == 1 || v.count == 2) {
          denseNames.append(name)
          dense = v
        } else {
          throw reader.fail(
            group.path,
            .unsupportedArchitecture(
              "unknown layer with \(v.count) variables; supported: Embedding, SimpleRNN, Dense"))
        }
      }
      if recurrent.count > 1 {
        throw reader.fail(
          layers.path,
          .unsupportedArchitecture(
            "stacked recurrent layers (\(recurrent.joined(separator: ", "))) are not supported"))
      }
      guard !recurrent.isEmpty else {
        throw reader.fail(layers.path, .unsupportedArchitecture("no SimpleRNN layer (a group with a cell)"))
      }
      if denseNames.count > 1 {
        throw reader.fail(
          layers.path,
          .unsupportedArchitecture("more than one Dense layer (\(denseNames.joined(separator: ", ")))"))
      }
      guard !denseNames.isEmpty else {
        throw reader.fail(layers.path, .unsupportedArchitecture("no Dense layer"))
      }
      guard cell.count == 2 || cell.count == 3 else {
        throw reader.fail(
          cellPath, .invalid("has \(cell.count) variables, expected kernel, recurrent kernel and bias"))
      }
    }
    return KerasWeights(
      embedding: embedding, kernel: cell[0], recurrentKernel: cell[1], bias: cell.count > 2 ? cell[2] : nil,
      denseKernel: dense[0], denseBias: dense.count > 1 ? dense[1] : nil)
  }

  // MARK: Export

  /// The Keras tensors of an Elman model. Token models become Embedding(X, H) with E = W_xᵀ and a
  /// SimpleRNN whose kernel is the identity, which Keras evaluates exactly as W_x·x. Each tensor
  /// keeps the dtype of the parameter it comes from, and an f64 parameter is transposed in f64.
  struct ExportTensors {
    var embedding: Parameter?
    var kernel: Parameter
    var recurrentKernel: Parameter
    var bias: Parameter
    var denseKernel: Parameter
    var denseBias: Parameter
    /// The dtype every tensor is written as, or nil for each tensor's own (see `dtype(of:)`).
    var requested: DType?

    /// The dtype `parameter` is written as: the requested one, else f64 for f64 and f32 for the rest.
    func dtype(of parameter: Parameter) -> DType {
      HDF5File.defaultDType(parameter, requested: requested)
    }
  }

  static func exportTensors(_ model: ElmanModel, requested: DType?) -> ExportTensors {
    let h = model.hiddenSize
    let x = model.inputSize
    let o = model.outputSize
    let tokens = model.inputKind == .tokens
    let recurrentT: Parameter  // [H, H] = W_hᵀ
    let inputT: Parameter  // [X, H] = W_xᵀ
    let identity: Parameter?  // the kernel of token models
    if model.W.dtype == .f64 {
      let (recurrent, input) = splitTransposed(model.W.doubles(), h: h, x: x)
      recurrentT = Parameter(doubles: recurrent, shape: [h, h])
      inputT = Parameter(doubles: input, shape: [x, h])
      identity = tokens ? Parameter(doubles: identityMatrix(h), shape: [h, h]) : nil
    } else {
      let (recurrent, input) = splitTransposed(model.W.floats(), h: h, x: x)
      recurrentT = Parameter(recurrent, shape: [h, h], dtype: model.W.dtype)
      inputT = Parameter(input, shape: [x, h], dtype: model.W.dtype)
      identity = tokens ? Parameter(identityMatrix(h), shape: [h, h], dtype: model.W.dtype) : nil
    }
    let denseKernel =
      model.V.dtype == .f64
      ? Parameter(doubles: KerasMapping.transpose(model.V.doubles(), rows: o, columns: h), shape: [h, o])
      : Parameter(
        KerasMapping.transpose(model.V.floats(), rows: o, columns: h), shape: [h, o], dtype: model.V.dtype)
    return ExportTensors(
      embedding: tokens ? inputT : nil, kernel: identity ?? inputT, recurrentKernel: recurrentT,
      bias: model.b, denseKernel: denseKernel, denseBias: model.c, requested: requested)
  }

  /// W = [W_h | W_x] ([H, H + X] row-major) as W_hᵀ ([H, H]) and W_xᵀ ([X, H]).
  static func splitTransposed<T: BinaryFloatingPoint>(
    _ w: [T], h: Int, x: Int
  ) -> (recurrent: [T], input: [T]) {
    var recurrentT = [T](repeating: 0, count: h * h)
    var inputT = [T](repeating: 0, count: x * h)
    for row in 0..<h {
      let base = row * (h + x)
      for j in 0..<h { recurrentT[j * h + row] = w[base + j] }
      for j in 0..<x { inputT[j * h + row] = w[base + h + j] }
    }
    return (recurrentT, inputT)
  }

  static func identityMatrix<T: BinaryFloatingPoint>(_ n: Int) -> [T] {
    var identity = [T](repeating: 0, count: n * n)
    for i in 0..<n { identity[i * n + i] = 1 }
    return identity
  }

  /// The Keras dtype policy names of the layers: "float64" for a layer any of whose weights is
  /// written as f64, so that Keras's variables hold them exactly (a float32 layer would round them
  /// on loading), else "float32".
  struct LayerPolicies {
    /// The Embedding's (from W).
    var embedding: String
    /// The SimpleRNN's (from W and b), and the dense input's.
    var rnn: String
    /// The Dense's (from V and c).
    var dense: String

    init(_ model: ElmanModel, requested: DType?) {
      func name(_ parameters: Parameter...) -> String {
        parameters.contains { HDF5File.defaultDType($0, requested: requested) == .f64 }
          ? "float64" : "float32"
      }
      embedding = name(model.W)
      rnn = name(model.W, model.b)
      dense = name(model.V, model.c)
    }
  }

  static func write(_ parameter: Parameter, name: String, in location: H5Location, tensors: ExportTensors)
    throws(H5Failure)
  {
    try HDF5File.writeParameter(parameter, name: name, in: location, dtype: tensors.dtype(of: parameter))
  }

  /// The estimated size of a Keras weights file for `model`: the plain layout's tensors plus, for
  /// token models, the H×H identity kernel that follows the Embedding.
  static func estimatedSize(of model: ElmanModel, requested: DType?) -> Int {
    let identity = model.inputKind == .tokens ? model.hiddenSize * model.hiddenSize * 8 : 0
    return HDF5File.estimatedSize(of: model, requested: requested) + identity
  }

  /// Writes a Keras 3 weights file that `load_weights` accepts for
  /// `[Embedding(X, H)] → SimpleRNN(H, return_sequences=True) → Dense(O)`. Every weight is
  /// written as `dtype`; without one, f64 parameters stay f64 and the others are written as f32.
  /// A Keras model whose layers are float64 holds f64 weights exactly.
  public static func writeWeights(
    _ model: ElmanModel, to path: String, dtype: DType? = nil, overwrite: Bool = false
  )
    throws(HDF5Error)
  {
    if let dtype { _ = try HDF5File.checkWritable(dtype, path: path) }
    // Keras files hold no vocabulary or metadata strings, only the weights and the config.
    try HDF5File.checkWritable(model, path: path, strings: false)
    try HDF5File.create(
      path: path, overwrite: overwrite, reserving: estimatedSize(of: model, requested: dtype)
    ) {
      root throws(HDF5Error) in
      try fillWeightsFile(root, model: model, dtype: dtype, path: path)
    }
  }

  /// Fills `root` with the Keras 3 weights layout of `model`, as `save_weights` writes it: the
  /// content of a `.weights.h5` file and of the `model.weights.h5` member of a `.keras` archive.
  /// Every tensor is written as `dtype`, or without one as ``ExportTensors/dtype(of:)`` says.
  static func fillWeightsFile(_ root: H5Location, model: ElmanModel, dtype: DType?, path: String)
    throws(HDF5Error)
  {
    let t = exportTensors(model, requested: dtype)
    do {
      let layers = try root.createGroup("layers")
      if let embedding = t.embedding {
        let vars = try layers.createGroup("embedding").createGroup("vars")
        try vars.writeAttribute("name", strings: ["embedding"], scalar: true)
        try write(embedding, name: "0", in: vars, tensors: t)
      }
      let rnn = try layers.createGroup("simple_rnn")
      try rnn.createGroup("vars").writeAttribute("name", strings: ["simple_rnn"], scalar: true)
      let cell = try rnn.createGroup("cell").createGroup("vars")
      try cell.writeAttribute("name", strings: ["simple_rnn_cell"], scalar: true)
      try write(t.kernel, name: "0", in: cell, tensors: t)
      try write(t.recurrentKernel, name: "1", in: cell, tensors: t)
      try write(t.bias, name: "2", in: cell, tensors: t)
      let dense = try layers.createGroup("dense").createGroup("vars")
      try dense.writeAttribute("name", strings: ["dense"], scalar: true)
      try write(t.denseKernel, name: "0", in: dense, tensors: t)
      try write(t.denseBias, name: "1", in: dense, tensors: t)
      try root.createGroup("vars").writeAttribute("name", strings: ["sequential"], scalar: true)
    } catch {
      throw hdf5Error(error, path: path)
    }
  }

  /// The Sequential model config Keras's legacy loader rebuilds the model from, with the layer
  /// dtypes of weights written as `dtype` (nil: as ``ExportTensors/dtype(of:)`` says).
  static func modelConfig(_ model: ElmanModel, dtype: DType? = nil) -> String {
    let policies = LayerPolicies(model, requested: dtype)
    var layers: [[String: Any]] = []
    if model.inputKind == .tokens {
      layers.append([
        "class_name": "InputLayer",
        "config": ["batch_shape": [NSNull(), NSNull()], "dtype": "int32", "name": "input_layer"],
      ])
      layers.append([
        "class_name": "Embedding",
        "config": [
          "name": "embedding", "input_dim": model.inputSize, "output_dim": model.hiddenSize,
          "mask_zero": false,
          "dtype": policies.embedding,
        ],
      ])
    } else {
      layers.append([
        "class_name": "InputLayer",
        "config": [
          "batch_shape": [NSNull(), NSNull(), model.inputSize], "dtype": policies.rnn, "name": "input_layer",
        ],
      ])
    }
    layers.append([
      "class_name": "SimpleRNN",
      "config": [
        "name": "simple_rnn", "units": model.hiddenSize,
        "activation": KerasMapping.kerasName(model.hiddenActivation),
        "use_bias": true, "return_sequences": true, "dtype": policies.rnn,
      ],
    ])
    layers.append([
      "class_name": "Dense",
      "config": [
        "name": "dense", "units": model.outputSize,
        "activation": KerasMapping.kerasName(model.outputActivation),
        "use_bias": true, "dtype": policies.dense,
      ],
    ])
    let root: [String: Any] = [
      "class_name": "Sequential",
      "config": ["name": kerasModelName(model.provenance.name), "layers": layers],
    ]
    let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }

  /// The model's name if Keras accepts it as one (letters, digits, `_`, `-`, `.`), else "sequential".
  static func kerasModelName(_ name: String?) -> String {
    guard let name, !name.isEmpty, name.count <= 128,
      name.unicodeScalars.allSatisfy({
        $0.isASCII
          && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0))
      })
    else { return "sequential" }
    return name
  }

  /// Writes a legacy full-model file that `keras.models.load_model` accepts. Every weight is
  /// written as `dtype`; without one, f64 parameters stay f64 and the others are written as f32.
  /// A layer with f64 weights is declared float64, so Keras loads them exactly.
  public static func writeLegacy(
    _ model: ElmanModel, to path: String, dtype: DType? = nil, overwrite: Bool = false
  )
    throws(HDF5Error)
  {
    if let dtype { _ = try HDF5File.checkWritable(dtype, path: path) }
    // Keras files hold no vocabulary or metadata strings, only the weights and the config.
    try HDF5File.checkWritable(model, path: path, strings: false)
    let t = exportTensors(model, requested: dtype)
    let kerasVersion = "3.0.0"
    try HDF5File.create(
      path: path, overwrite: overwrite, reserving: estimatedSize(of: model, requested: dtype)
    ) {
      root throws(HDF5Error) in
      do {
        try root.writeAttribute("model_config", strings: [modelConfig(model, dtype: dtype)], scalar: true)
        try root.writeAttribute("keras_version", strings: [kerasVersion], scalar: true)
        let weights = try root.createGroup("model_weights")
        var layerNames: [String] = []
        func layer(_ name: String, _ tensors: [(String, Parameter)]) throws(H5Failure) {
          layerNames.append(name)
          let group = try weights.createGroup(name)
          let inner = try group.createGroup(name)
          var weightNames: [String] = []
          for (weightName, parameter) in tensors {
            // Keras 3 names them "<layer>/<weight>"; the loader matches them by order.
            try write(parameter, name: weightName, in: inner, tensors: t)
            weightNames.append("\(name)/\(weightName)")
          }
          try group.writeAttribute("weight_names", strings: weightNames, scalar: false)
        }
        if let embedding = t.embedding {
          try layer("embedding", [("embeddings", embedding)])
        }
        try layerSimpleRNN(weights: weights, t: t, layerNames: &layerNames)
        try layer("dense", [("kernel", t.denseKernel), ("bias", t.denseBias)])
        try weights.writeAttribute("layer_names", strings: layerNames, scalar: false)
        try weights.writeAttribute("keras_version", strings: [kerasVersion], scalar: true)
      } catch {
        throw hdf5Error(error, path: path)
      }
    }
  }

  private static func layerSimpleRNN(
    weights: H5Location, t: ExportTensors, layerNames: inout [String]
  ) throws(H5Failure) {
    layerNames.append("simple_rnn")
    let group = try weights.createGroup("simple_rnn")
    let cell = try group.createGroup("simple_rnn").createGroup("simple_rnn_cell")
    try write(t.kernel, name: "kernel", in: cell, tensors: t)
    try write(t.recurrentKernel, name: "recurrent_kernel", in: cell, tensors: t)
    try write(t.bias, name: "bias", in: cell, tensors: t)
    try group.writeAttribute(
      "weight_names",
      strings: [
        "simple_rnn/simple_rnn_cell/kernel", "simple_rnn/simple_rnn_cell/recurrent_kernel",
        "simple_rnn/simple_rnn_cell/bias",
      ], scalar: false)
  }
}
