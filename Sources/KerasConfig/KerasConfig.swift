import RNNFormat

/// Why a Keras model config (`config.json`, or a legacy file's `model_config`) describes no model
/// RNNKit can read: the layer at fault, if any, and the reason.
public struct KerasConfigError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The name of the layer at fault; nil for the config as a whole.
  public var layer: String?
  /// What is wrong.
  public var reason: Reason

  /// The kinds of problem a config can have.
  public enum Reason: Sendable, Equatable {
    /// The text is not a config: not JSON, or without the members every config has.
    case invalid(String)
    /// A valid config of a model RNNKit cannot represent.
    case unsupportedArchitecture(String)
  }

  /// An error about `layer` (nil: the config as a whole).
  public init(layer: String? = nil, reason: Reason) {
    self.layer = layer
    self.reason = reason
  }

  public var description: String {
    let subject = layer.map { "layer \"\($0)\": " } ?? ""
    switch reason {
    case .invalid(let text): return displaySafe(subject + text)
    case .unsupportedArchitecture(let text): return displaySafe(subject + "unsupported architecture: " + text)
    }
  }
}

/// One layer of a Keras model as its config describes it.
public struct KerasLayer: Sendable, Equatable {
  /// The layer types RNNKit maps onto the model.
  public enum Kind: Sendable, Equatable { case embedding, simpleRNN, dense }
  /// The layer's type.
  public var kind: Kind
  /// The layer's `name` in the config (the group name in legacy files).
  public var name: String
  /// The group path under `/layers` in Keras 3 weight files (`time_distributed/layer` for a
  /// wrapped Dense).
  public var weightsPath: String
  /// `units` (SimpleRNN, Dense) or `output_dim` (Embedding), when the config gives it.
  public var units: Int?
  /// An Embedding's `input_dim`.
  public var inputDim: Int?
  /// The size of the last axis of the layer's input (its kernel's rows), from `build_config`.
  public var inputFeatures: Int?
  /// The activation's Keras name.
  public var activation: String?
  /// Whether the layer has a bias.
  public var useBias = true
}

/// The Embedding → SimpleRNN → Dense stack RNNKit understands, as a Keras config describes it.
/// Parsing touches no file and no C library, so it can be fuzzed on its own.
public struct KerasArchitecture: Sendable, Equatable {
  /// The model's name in the config, if any.
  public var modelName: String?
  /// The Embedding layer, for token models.
  public var embedding: KerasLayer?
  /// The SimpleRNN layer.
  public var rnn: KerasLayer
  /// The Dense output layer.
  public var dense: KerasLayer
  /// The feature count of a dense-input model's InputLayer (`batch_shape`).
  public var inputFeatures: Int?

  /// The deepest nesting a config may have (Keras writes about 8 levels).
  public static let maxNesting = 64

  /// The most bytes a Keras weights file for these layers can take: every weight as f64, with up
  /// to four optimizer slots of the same shape beside it, plus 1 MiB of HDF5 structure. Nil when
  /// the config leaves a dimension out.
  public var weightsFileBound: Int? {
    guard let h = rnn.units, let o = dense.units else { return nil }
    var parameters: [Int] = [h * h, h, h * o, o]
    if let embedding {
      guard let n = embedding.inputDim, let e = embedding.units else { return nil }
      parameters += [n * e, e * h]
    } else {
      guard let x = rnn.inputFeatures ?? inputFeatures else { return nil }
      parameters.append(x * h)
    }
    // Every dimension is at most 2^31 (see `dimension`), so each product fits; the sum is checked.
    var total = 1 << 20
    for count in parameters {
      let (bytes, o1) = count.multipliedReportingOverflow(by: 8 * 5)
      let (sum, o2) = total.addingReportingOverflow(bytes)
      if o1 || o2 { return nil }
      total = sum
    }
    return total
  }

  /// Reads a Keras model config and checks that it describes an optional Embedding, one
  /// SimpleRNN and one Dense layer, in that order. The JSON is read strictly (``JSONParser``).
  public static func parse(json bytes: UnsafeRawBufferPointer) throws(KerasConfigError) -> KerasArchitecture {
    func fail(_ reason: KerasConfigError.Reason, layer: String? = nil) -> KerasConfigError {
      KerasConfigError(layer: layer, reason: reason)
    }
    let root: JSONValue
    do { root = try JSONParser.parse(bytes, maxDepth: maxNesting) } catch {
      throw fail(.invalid("is not valid JSON: \(error)"))
    }
    guard root.object != nil else { throw fail(.invalid("is not a JSON object")) }
    let className = root["class_name"]?.string ?? "?"
    guard ["Sequential", "Functional", "Model"].contains(className) else {
      throw fail(
        .unsupportedArchitecture("the model is a \(className); expected a Sequential or Functional model"))
    }
    guard let config = root["config"], config.object != nil, let layers = config["layers"]?.array else {
      throw fail(.invalid("has no config.layers list"))
    }
    var used: [String: Int] = [:]
    var parsed: [KerasLayer] = []
    var recurrent: [String] = []
    var inputFeatures: Int?
    for layer in layers {
      guard layer.object != nil else {
        throw fail(.invalid("config.layers holds something that is not a layer"))
      }
      let cls = layer["class_name"]?.string ?? "?"
      let conf = layer["config"] ?? .object(JSONObject())
      let name = conf["name"]?.string ?? layer["name"]?.string ?? cls
      // Keras 3 weight files name layer groups after the class, numbered on repeats.
      let snake = snakeCase(cls)
      let count = used[snake, default: -1] + 1
      used[snake] = count
      let weightsPath = count == 0 ? snake : "\(snake)_\(count)"
      let activation = activationName(conf)
      // The last axis of the layer's input, as Keras 3 records it.
      let built = lastDimension(layer["build_config"]?["input_shape"])
      let useBias = conf["use_bias"]?.bool ?? true
      switch cls {
      case "InputLayer":
        inputFeatures = lastDimension(conf["batch_shape"] ?? conf["batch_input_shape"])
      case "Embedding":
        if conf["mask_zero"]?.bool == true {
          throw fail(
            .unsupportedArchitecture(
              "mask_zero=true makes Keras skip the steps of token 0 and carry the state over them, which an Elman model cannot express; only mask_zero=false is supported"
            ),
            layer: name)
        }
        parsed.append(
          KerasLayer(
            kind: .embedding, name: name, weightsPath: weightsPath, units: dimension(conf["output_dim"]),
            inputDim: dimension(conf["input_dim"])))
      case "SimpleRNN":
        recurrent.append(name)
        if conf["go_backwards"]?.bool == true {
          throw fail(.unsupportedArchitecture("go_backwards=true is not supported"), layer: name)
        }
        parsed.append(
          KerasLayer(
            kind: .simpleRNN, name: name, weightsPath: weightsPath, units: dimension(conf["units"]),
            inputFeatures: built, activation: activation ?? "tanh", useBias: useBias))
      case "Dense":
        parsed.append(
          KerasLayer(
            kind: .dense, name: name, weightsPath: weightsPath, units: dimension(conf["units"]),
            inputFeatures: built, activation: activation ?? "linear", useBias: useBias))
      case "TimeDistributed":
        // On the SimpleRNN's [batch, steps, H] output, TimeDistributed(Dense) computes exactly
        // Dense; its weights sit under the wrapper (legacy files: the wrapper's group; Keras 3
        // weight files: `<wrapper>/layer`).
        let inner = conf["layer"]
        let innerClass = inner?["class_name"]?.string ?? "?"
        guard innerClass == "Dense", let innerConf = inner?["config"], innerConf.object != nil else {
          throw fail(
            .unsupportedArchitecture(
              "TimeDistributed wraps a \(innerClass); only TimeDistributed(Dense) is supported"),
            layer: name)
        }
        let innerActivation = activationName(innerConf)
        parsed.append(
          KerasLayer(
            kind: .dense, name: name, weightsPath: weightsPath + "/layer",
            units: dimension(innerConf["units"]),
            inputFeatures: lastDimension(inner?["build_config"]?["input_shape"]) ?? built,
            activation: innerActivation ?? "linear", useBias: innerConf["use_bias"]?.bool ?? true))
      case "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "CuDNNLSTM", "CuDNNGRU":
        throw fail(
          .unsupportedArchitecture("layer type \(cls) is not supported; RNNKit supports only SimpleRNN"),
          layer: name)
      case "Bidirectional":
        throw fail(.unsupportedArchitecture("bidirectional recurrent layers are not supported"), layer: name)
      case "RNN":
        throw fail(
          .unsupportedArchitecture("generic RNN layers with custom cells are not supported; use SimpleRNN"),
          layer: name)
      default:
        throw fail(
          .unsupportedArchitecture(
            "unknown layer type \(cls); supported: InputLayer, Embedding, SimpleRNN, Dense, TimeDistributed(Dense)"
          ),
          layer: name)
      }
    }
    if recurrent.count > 1 {
      throw fail(
        .unsupportedArchitecture(
          "stacked recurrent layers (\(recurrent.joined(separator: ", "))) are not supported"))
    }
    let kinds = parsed.map(\.kind)
    guard kinds == [.simpleRNN, .dense] || kinds == [.embedding, .simpleRNN, .dense] else {
      throw fail(
        .unsupportedArchitecture(
          "expected an optional Embedding, one SimpleRNN and one Dense layer in that order; found "
            + (parsed.isEmpty
              ? "no layers" : parsed.map { "\($0.name) (\($0.kind))" }.joined(separator: ", "))))
    }
    return KerasArchitecture(
      modelName: config["name"]?.string, embedding: kinds.count == 3 ? parsed[0] : nil,
      rnn: parsed[kinds.count - 2], dense: parsed[kinds.count - 1], inputFeatures: inputFeatures)
  }

  /// A layer's activation: a name, or a serialized activation object.
  static func activationName(_ conf: JSONValue) -> String? {
    conf["activation"]?.string ?? conf["activation"]?["config"]?["name"]?.string
      ?? conf["activation"]?["class_name"]?.string
  }

  /// A layer dimension: an integer in 1...2^31, or nil for anything else (absent, null, negative,
  /// fractional, huge, a boolean), so sizes computed from dimensions cannot overflow.
  static func dimension(_ value: JSONValue?) -> Int? {
    guard let int = value?.integer, int >= 1, int <= 1 << 31 else { return nil }
    return int
  }

  /// The last entry of a shape list such as `[null, null, 7]`, when it is a dimension.
  static func lastDimension(_ value: JSONValue?) -> Int? {
    dimension(value?.array?.last)
  }

  /// Keras's `to_snake_case` for class names.
  static func snakeCase(_ name: String) -> String {
    var result = ""
    let chars = Array(name)
    for (i, ch) in chars.enumerated() {
      if ch.isUppercase, i > 0 {
        let previous = chars[i - 1]
        let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
        if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) {
          result += "_"
        }
      }
      result += ch.lowercased()
    }
    return result
  }
}
