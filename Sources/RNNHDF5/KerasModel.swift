import Foundation
import RNNFormat
import RNNModel

/// What a Keras importer needs from the caller: Keras files store no vocabulary, and weight files
/// store no activations.
public struct KerasImportOptions: Sendable {
  /// Overrides (or, for `.weights.h5`, supplies) the SimpleRNN activation.
  public var hiddenActivation: HiddenActivation?
  /// Overrides (or, for `.weights.h5`, supplies) the Dense activation.
  public var outputActivation: OutputActivation?
  /// The tokens in id order, for models with an Embedding layer.
  public var vocabulary: [String]?
  /// Where the tokens came from, for messages.
  public var vocabularyPath: String?
  /// Stand in for missing activations (tanh, softmax) and vocabulary (tokens named by their ids).
  public var standIns = false

  public init(
    hiddenActivation: HiddenActivation? = nil, outputActivation: OutputActivation? = nil,
    vocabulary: [String]? = nil, vocabularyPath: String? = nil
  ) {
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.vocabulary = vocabulary
    self.vocabularyPath = vocabularyPath
  }
}

/// One layer of a Keras model as its config describes it.
struct KerasLayer {
  enum Kind: Equatable { case input, embedding, simpleRNN, dense }
  var kind: Kind
  /// The layer's `name` in the config (the group name in legacy files).
  var name: String
  /// The group name under `/layers` in Keras 3 weight files.
  var weightsPath: String
  var units: Int?
  var inputDim: Int?
  var activation: String?
  var useBias = true
}

/// The Embedding → SimpleRNN → Dense stack RNNKit understands.
struct KerasArchitecture {
  var modelName: String?
  var embedding: KerasLayer?
  var rnn: KerasLayer
  var dense: KerasLayer

  /// Reads a Keras `model_config` / `config.json` document and checks the architecture.
  static func parse(json text: String, path: String, part: String) throws(HDF5Error) -> KerasArchitecture {
    func fail(_ reason: HDF5Error.Reason, layer: String? = nil) -> HDF5Error {
      HDF5Error(path: path, part: layer.map { "layer \"\($0)\"" } ?? part, reason: reason)
    }
    guard let data = text.data(using: .utf8),
      let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw fail(.invalid("is not a JSON object")) }
    let className = root["class_name"] as? String ?? "?"
    guard ["Sequential", "Functional", "Model"].contains(className) else {
      throw fail(
        .unsupportedArchitecture("the model is a \(className); expected a Sequential or Functional model"))
    }
    guard let config = root["config"] as? [String: Any], let layers = config["layers"] as? [[String: Any]]
    else {
      throw fail(.invalid("has no config.layers list"))
    }
    var used: [String: Int] = [:]
    var parsed: [KerasLayer] = []
    var recurrent: [String] = []
    for layer in layers {
      let cls = layer["class_name"] as? String ?? "?"
      let conf = layer["config"] as? [String: Any] ?? [:]
      let name = conf["name"] as? String ?? layer["name"] as? String ?? cls
      // Keras 3 weight files name layer groups after the class, numbered on repeats.
      let snake = snakeCase(cls)
      let count = used[snake, default: -1] + 1
      used[snake] = count
      let weightsPath = count == 0 ? snake : "\(snake)_\(count)"
      func activation() -> String? {
        if let a = conf["activation"] as? String { return a }
        if let a = conf["activation"] as? [String: Any] {
          return (a["config"] as? [String: Any])?["name"] as? String ?? a["class_name"] as? String
        }
        return nil
      }
      switch cls {
      case "InputLayer":
        continue
      case "Embedding":
        if conf["mask_zero"] as? Bool == true {
          throw fail(
            .unsupportedArchitecture(
              "mask_zero=true changes the recurrence; only mask_zero=false is supported"), layer: name)
        }
        parsed.append(
          KerasLayer(
            kind: .embedding, name: name, weightsPath: weightsPath, units: conf["output_dim"] as? Int,
            inputDim: conf["input_dim"] as? Int))
      case "SimpleRNN":
        recurrent.append(name)
        if conf["go_backwards"] as? Bool == true {
          throw fail(.unsupportedArchitecture("go_backwards=true is not supported"), layer: name)
        }
        parsed.append(
          KerasLayer(
            kind: .simpleRNN, name: name, weightsPath: weightsPath, units: conf["units"] as? Int,
            activation: activation() ?? "tanh", useBias: conf["use_bias"] as? Bool ?? true))
      case "Dense":
        parsed.append(
          KerasLayer(
            kind: .dense, name: name, weightsPath: weightsPath, units: conf["units"] as? Int,
            activation: activation() ?? "linear", useBias: conf["use_bias"] as? Bool ?? true))
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
            "unknown layer type \(cls); supported: InputLayer, Embedding, SimpleRNN, Dense"),
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
      modelName: config["name"] as? String, embedding: kinds.count == 3 ? parsed[0] : nil,
      rnn: parsed[kinds.count - 2], dense: parsed[kinds.count - 1])
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

/// A weight read from a file: values, shape, dtype and where it came from.
struct KerasTensor {
  var values: [Float]
  var shape: [Int]
  var dtype: DType
  var part: String
}

/// The weights of the three layers, as Keras stores them.
struct KerasWeights {
  var embedding: KerasTensor?
  var kernel: KerasTensor
  var recurrentKernel: KerasTensor
  var bias: KerasTensor?
  var denseKernel: KerasTensor
  var denseBias: KerasTensor?
}

enum KerasMapping {
  /// Builds the Elman model: W = [recurrent_kernelᵀ | kernelᵀ] (or (E·kernel)ᵀ with an Embedding
  /// E), b = bias, V = dense kernelᵀ, c = dense bias.
  static func model(
    weights w: KerasWeights, hidden: String?, output: String?, options: KerasImportOptions, path: String,
    format: String, modelName: String?, activationSource: String
  ) throws(HDF5Error) -> ElmanModel {
    func fail(_ part: String?, _ reason: HDF5Error.Reason) -> HDF5Error {
      HDF5Error(path: path, part: part, reason: reason)
    }
    func shape(_ t: KerasTensor, _ expected: [Int], _ text: String) throws(HDF5Error) {
      guard t.shape == expected else { throw fail(t.part, .wrongShape(found: t.shape, expected: text)) }
    }
    guard w.recurrentKernel.shape.count == 2 else {
      throw fail(w.recurrentKernel.part, .wrongShape(found: w.recurrentKernel.shape, expected: "[H, H]"))
    }
    let h = w.recurrentKernel.shape[0]
    if w.recurrentKernel.shape[1] != h {
      let ratio = h > 0 && w.recurrentKernel.shape[1] % h == 0 ? w.recurrentKernel.shape[1] / h : 0
      let hint = ratio == 4 ? " (an LSTM?)" : ratio == 3 ? " (a GRU?)" : ""
      throw fail(
        w.recurrentKernel.part,
        .unsupportedArchitecture(
          "recurrent kernel has shape \(w.recurrentKernel.shape)\(hint); SimpleRNN needs [H, H]"))
    }
    guard h > 0 else {
      throw fail(
        w.recurrentKernel.part, .wrongShape(found: w.recurrentKernel.shape, expected: "[H, H] with H > 0"))
    }
    guard w.kernel.shape.count == 2, w.kernel.shape[1] == h, w.kernel.shape[0] > 0 else {
      throw fail(
        w.kernel.part,
        .wrongShape(found: w.kernel.shape, expected: "[X, \(h)] (H = \(h) from the recurrent kernel)"))
    }
    let inner = w.kernel.shape[0]
    if let bias = w.bias { try shape(bias, [h], "[\(h)]") }
    guard w.denseKernel.shape.count == 2, w.denseKernel.shape[0] == h, w.denseKernel.shape[1] > 0 else {
      throw fail(
        w.denseKernel.part,
        .wrongShape(found: w.denseKernel.shape, expected: "[\(h), O] (H = \(h) from the SimpleRNN)"))
    }
    let o = w.denseKernel.shape[1]
    if let bias = w.denseBias { try shape(bias, [o], "[\(o)]") }

    // W_x as [H, X]: the kernel transposed, or the embedding folded in.
    let x: Int
    var wx: [Float]
    if let e = w.embedding {
      guard e.shape.count == 2, e.shape[1] == inner, e.shape[0] > 0 else {
        throw fail(
          e.part, .wrongShape(found: e.shape, expected: "[N, \(inner)] (output_dim = kernel rows \(inner))"))
      }
      x = e.shape[0]
      wx = foldEmbedding(e.values, rows: x, inner: inner, kernel: w.kernel.values, hidden: h)
    } else {
      x = inner
      wx = transpose(w.kernel.values, rows: x, columns: h)
    }
    var wValues = [Float](repeating: 0, count: h * (h + x))
    let rT = transpose(w.recurrentKernel.values, rows: h, columns: h)
    for row in 0..<h {
      let base = row * (h + x)
      for j in 0..<h { wValues[base + j] = rT[row * h + j] }
      for j in 0..<x { wValues[base + h + j] = wx[row * x + j] }
    }
    wx = []

    let fName = options.hiddenActivation?.rawValue ?? hidden ?? (options.standIns ? "tanh" : nil)
    let gName = options.outputActivation?.rawValue ?? output ?? (options.standIns ? "softmax" : nil)
    guard let fName else {
      throw fail(
        nil,
        .needsInput(
          .hiddenActivation, "\(activationSource) stores no activations (Keras's default f is tanh)"))
    }
    guard let gName else {
      throw fail(
        nil,
        .needsInput(
          .outputActivation, "\(activationSource) stores no activations (g is often softmax or linear)"))
    }
    guard let f = HiddenActivation(name: fName) else {
      throw fail(
        nil,
        .unsupportedArchitecture(
          "SimpleRNN activation \"\(fName)\" is not supported (supported: \(HiddenActivation.allCases.map(\.rawValue).joined(separator: ", ")))"
        ))
    }
    guard let g = OutputActivation(name: gName) else {
      throw fail(
        nil,
        .unsupportedArchitecture(
          "Dense activation \"\(gName)\" is not supported (supported: softmax, sigmoid, linear)"))
    }

    var vocabulary: Vocabulary?
    var tokenizer = TokenizerSettings()
    let kind: InputKind = w.embedding == nil ? .dense : .tokens
    if kind == .tokens {
      guard let tokens = options.vocabulary ?? (options.standIns ? (0..<x).map { "<\($0)>" } : nil) else {
        throw fail(
          nil,
          .needsInput(
            .vocabulary,
            "the model has an Embedding layer and Keras files store no vocabulary (one token per line, in id order)"
          ))
      }
      let vocabPath = options.vocabularyPath ?? "vocabulary"
      guard tokens.count == x else {
        throw HDF5Error(
          path: vocabPath,
          reason: .invalid("has \(tokens.count) tokens but the Embedding in \(path) has input_dim \(x)"))
      }
      do { vocabulary = try Vocabulary(tokens) } catch {
        throw HDF5Error(path: vocabPath, reason: .invalid("\(error)"))
      }
      if vocabulary?.id(of: "<unk>") == nil { tokenizer.unknownToken = nil }
    } else if options.vocabulary != nil {
      throw fail(
        nil, .invalid("a vocabulary was given but the model has no Embedding layer (it takes dense inputs)"))
    }

    let dtype = w.recurrentKernel.dtype
    do {
      return try ElmanModel(
        W: Parameter(wValues, shape: [h, h + x], dtype: dtype),
        b: Parameter(
          w.bias?.values ?? [Float](repeating: 0, count: h), shape: [h], dtype: w.bias?.dtype ?? dtype),
        V: Parameter(
          transpose(w.denseKernel.values, rows: h, columns: o), shape: [o, h], dtype: w.denseKernel.dtype),
        c: Parameter(
          w.denseBias?.values ?? [Float](repeating: 0, count: o), shape: [o],
          dtype: w.denseBias?.dtype ?? dtype),
        hiddenActivation: f, outputActivation: g, inputKind: kind, vocabulary: vocabulary,
        tokenizer: tokenizer,
        provenance: Provenance(name: modelName, sourceFormat: format))
    } catch {
      throw fail(nil, .invalid("\(error)"))
    }
  }

  /// `values` is [rows, columns] row-major; returns [columns, rows].
  static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    var out = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        // Blocked so both sides stay in cache for large matrices.
        let block = 64
        var r0 = 0
        while r0 < rows {
          var c0 = 0
          while c0 < columns {
            for r in r0..<min(r0 + block, rows) {
              for c in c0..<min(c0 + block, columns) { dst[c * rows + r] = src[r * columns + c] }
            }
            c0 += block
          }
          r0 += block
        }
      }
    }
    return out
  }

  /// (E·K)ᵀ as [H, N], for E [N, inner] and K [inner, H], accumulated in Float as Keras does.
  static func foldEmbedding(_ e: [Float], rows n: Int, inner: Int, kernel k: [Float], hidden h: Int)
    -> [Float]
  {
    // RNNKit's own exports use an identity kernel; E·I is E exactly, so skip the N·H·H product.
    if inner == h && isIdentity(k, size: h) { return transpose(e, rows: n, columns: h) }
    var product = [Float](repeating: 0, count: n * h)
    e.withUnsafeBufferPointer { e in
      k.withUnsafeBufferPointer { k in
        product.withUnsafeMutableBufferPointer { p in
          for i in 0..<n {
            let row = p.baseAddress! + i * h
            for m in 0..<inner {
              let scale = e[i * inner + m]
              let krow = k.baseAddress! + m * h
              for j in 0..<h { row[j] += scale * krow[j] }
            }
          }
        }
      }
    }
    return transpose(product, rows: n, columns: h)
  }

  static func isIdentity(_ values: [Float], size: Int) -> Bool {
    guard values.count == size * size else { return false }
    for row in 0..<size {
      for column in 0..<size where values[row * size + column] != (row == column ? 1 : 0) { return false }
    }
    return true
  }

  /// The Keras name of an activation.
  static func kerasName(_ f: HiddenActivation) -> String { f == .identity ? "linear" : f.rawValue }
  static func kerasName(_ g: OutputActivation) -> String { g == .identity ? "linear" : g.rawValue }
}
