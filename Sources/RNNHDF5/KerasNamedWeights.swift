import RNNFormat
import RNNModel

// tf.keras 2.x `save_weights("m.h5")`: the layout of a legacy file's `/model_weights`, at the
// root and without a config. The root's `layer_names` attribute lists the layer groups in order;
// each group's `weight_names` attribute names its datasets relative to the group
// (`/simple_rnn/simple_rnn/simple_rnn_cell/kernel:0`).

extension Keras {
  /// Whether `reader` holds the tf.keras 2.x weights layout rather than Keras 3's `/layers`.
  static func hasNamedLayers(_ reader: H5Reader) -> Bool {
    !reader.exists("layers") && reader.root.hasAttribute("layer_names")
  }

  /// The tensors of a file whose layers are listed by name (`layer_names`, `weight_names`),
  /// recognised by the names of their weights: `embeddings` is an Embedding; `kernel`,
  /// `recurrent_kernel` and an optional `bias` a SimpleRNN; `kernel` and an optional `bias` a
  /// Dense layer (also inside TimeDistributed).
  static func namedLayerTensors(_ reader: H5Reader, in root: H5Location) throws(HDF5Error) -> KerasWeights {
    let rootPart = "attribute \"layer_names\" of \(root.path)"
    guard let layerNames = try reader.stringArrayAttribute("layer_names", of: root) else {
      throw reader.fail(rootPart, .missing)
    }
    var embedding: KerasTensor?
    var rnn: [String: KerasTensor] = [:]
    var dense: [String: KerasTensor] = [:]
    var recurrent: [String] = []
    var denseNames: [String] = []
    var embeddings: [String] = []
    // A layer listed twice would be read twice: refused, so a list cannot multiply the work.
    var seen = Set<String>()
    for layer in layerNames {
      guard seen.insert(layer).inserted else {
        throw reader.fail(rootPart, .invalid("lists layer \"\(layer)\" twice"))
      }
      let group = try reader.group(layer, in: root)
      guard let names = try reader.stringArrayAttribute("weight_names", of: group) else {
        throw reader.fail("attribute \"weight_names\" of \(group.path)", .missing)
      }
      if names.isEmpty { continue }  // Input layers and other weightless layers.
      if names.contains(where: { $0.contains("forward_") || $0.contains("backward_") }) {
        throw reader.fail(
          group.path, .unsupportedArchitecture("bidirectional recurrent layers are not supported"))
      }
      var tensors: [String: KerasTensor] = [:]
      for name in names {
        // "simple_rnn/simple_rnn_cell/recurrent_kernel:0" → "recurrent_kernel".
        var short = String(name.split(separator: "/").last ?? "")
        if let colon = short.firstIndex(of: ":") { short = String(short[..<colon]) }
        guard tensors[short] == nil else {
          throw reader.fail(group.path, .invalid("names weight \"\(short)\" twice in weight_names"))
        }
        tensors[short] = try reader.kerasTensor(reader.dataset(name, in: group))
      }
      let kinds = Set(tensors.keys)
      if kinds == ["embeddings"] {
        embeddings.append(layer)
        embedding = tensors["embeddings"]
      } else if kinds == ["kernel", "recurrent_kernel"] || kinds == ["kernel", "recurrent_kernel", "bias"] {
        recurrent.append(layer)
        rnn = tensors
      } else if kinds == ["kernel"] || kinds == ["kernel", "bias"] {
        denseNames.append(layer)
        dense = tensors
      } else {
        throw reader.fail(
          group.path,
          .unsupportedArchitecture(
            "unknown layer with weights \(names.joined(separator: ", ")); supported: Embedding, SimpleRNN, Dense"
          ))
      }
    }
    func refuse(_ what: String, _ names: [String]) -> HDF5Error {
      reader.fail(
        rootPart, .unsupportedArchitecture("\(what) (\(names.joined(separator: ", "))) are not supported"))
    }
    if embeddings.count > 1 { throw refuse("several Embedding layers", embeddings) }
    if recurrent.count > 1 { throw refuse("stacked recurrent layers", recurrent) }
    if denseNames.count > 1 { throw refuse("several Dense layers", denseNames) }
    guard let kernel = rnn["kernel"], let recurrentKernel = rnn["recurrent_kernel"] else {
      throw reader.fail(rootPart, .unsupportedArchitecture("lists no SimpleRNN layer"))
    }
    guard let denseKernel = dense["kernel"] else {
      throw reader.fail(rootPart, .unsupportedArchitecture("lists no Dense layer"))
    }
    return KerasWeights(
      embedding: embedding, kernel: kernel, recurrentKernel: recurrentKernel, bias: rnn["bias"],
      denseKernel: denseKernel, denseBias: dense["bias"])
  }
}
