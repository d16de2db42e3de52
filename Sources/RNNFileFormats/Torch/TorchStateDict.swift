import RNNFormat
import RNNModel

/// One tensor of a state dict as a format found it: its shape, and how to load it (in place where
/// the format allows).
struct StateDictTensor {
  var shape: [Int]
  var load: () throws -> Parameter
}

/// The mapping between a PyTorch state dict of `nn.RNN` + `nn.Linear` (+ optional `nn.Embedding`)
/// and ``ElmanModel``, shared by the `.pt` and the torch-named safetensors formats.
///
/// Reading: `P.weight_ih_l0` [H, X], `P.weight_hh_l0` [H, H], `P.bias_ih_l0`, `P.bias_hh_l0` under
/// any module prefix P; the output layer is the `nn.Linear` `Q.weight` [O, H], `Q.bias` [O]; an
/// `nn.Embedding` `E.weight` [N, X] is folded in as W_x = weight_ih · E.weightᵀ. Writing: the
/// modules `rnn` (`nn.RNN(X, H, nonlinearity=f)`) and `fc` (`nn.Linear(H, O)`).
enum TorchStateDict {
  static let rnnSuffix = "weight_ih_l0"
  /// The most weights an embedding may fold into (1 GiB of f32), and the most multiply-adds.
  static let maxFoldedElements = 1 << 28
  static let maxFoldingWork = 1 << 37

  /// Whether `keys` include the input weights of an `nn.RNN`, `nn.LSTM` or `nn.GRU` layer.
  static func holdsRNN<S: Sequence<String>>(_ keys: S) -> Bool {
    keys.contains { $0.hasSuffix(rnnSuffix) && isModulePrefix($0.dropLast(rnnSuffix.count)) }
  }

  static func isModulePrefix(_ prefix: Substring) -> Bool { prefix.isEmpty || prefix.hasSuffix(".") }

  /// A key of the recurrent module itself: `(weight|bias)_(ih|hh|hr)_l<k>[_reverse]`, with k.
  static func recurrentKey(_ rest: Substring) -> (layer: Int, reverse: Bool, projection: Bool)? {
    var text = rest
    let reverse = text.hasSuffix("_reverse")
    if reverse { text = text.dropLast("_reverse".count) }
    for head in ["weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l", "weight_hr_l"]
    where text.hasPrefix(head) {
      guard let layer = Int(text.dropFirst(head.count)), layer >= 0 else { return nil }
      return (layer, reverse, head == "weight_hr_l")
    }
    return nil
  }

  /// Builds the model from `tensors`, with activations and vocabulary from `options`, then `metadata`.
  static func model(
    _ tensors: [String: StateDictTensor], metadata: StringMetadata, options: ImportOptions,
    sourceFormat: String,
    path: String
  ) throws -> ElmanModel {
    func fail(_ part: String, _ reason: String, _ input: ModelInput? = nil) -> PyTorchError {
      PyTorchError(path: path, part: part, reason: reason, requestedInput: input)
    }
    func quoted(_ names: [String]) -> String {
      let shown = names.sorted().prefix(8).map { "\"\($0)\"" }.joined(separator: ", ")
      return names.count > 8 ? shown + ", …" : shown
    }
    let prefixes = tensors.keys.filter {
      $0.hasSuffix(rnnSuffix) && isModulePrefix($0.dropLast(rnnSuffix.count))
    }
    .map { String($0.dropLast(rnnSuffix.count)) }.sorted()
    guard !prefixes.isEmpty else {
      throw fail(
        "state dict",
        "has no nn.RNN weights (a key ending in \(rnnSuffix)); its keys: \(quoted(Array(tensors.keys)))")
    }
    let prefix: String
    if let wanted = options.modulePrefix {
      let normalized = wanted.isEmpty || wanted.hasSuffix(".") ? wanted : wanted + "."
      guard prefixes.contains(normalized) else {
        throw fail(
          "module prefix \"\(wanted)\"", "names no nn.RNN in the file; it holds \(quoted(prefixes))",
          .modulePrefix)
      }
      prefix = normalized
    } else {
      guard prefixes.count == 1 else {
        throw fail(
          "state dict", "holds \(prefixes.count) recurrent modules (\(quoted(prefixes))); choose one",
          .modulePrefix)
      }
      prefix = prefixes[0]
    }

    // Refuse what an Elman model cannot express, naming the key.
    var ownKeys: Set<String> = []
    for key in tensors.keys.sorted() where key.hasPrefix(prefix) {
      guard let shape = recurrentKey(key.dropFirst(prefix.count)) else { continue }
      ownKeys.insert(key)
      if shape.layer > 0 {
        throw fail("\"\(key)\"", "belongs to a second layer; only one-layer nn.RNN models are read")
      }
      if shape.reverse { throw fail("\"\(key)\"", "belongs to a bidirectional RNN, which is not read") }
      if shape.projection { throw fail("\"\(key)\"", "is an LSTM projection; only nn.RNN is read") }
    }
    let inputKey = prefix + "weight_ih_l0"
    let recurrentKeyName = prefix + "weight_hh_l0"
    guard let input = tensors[inputKey], input.shape.count == 2 else {
      throw fail("\"\(inputKey)\"", "must be a matrix [H, X]")
    }
    guard let recurrent = tensors[recurrentKeyName], recurrent.shape.count == 2, recurrent.shape[1] > 0 else {
      throw fail("\"\(recurrentKeyName)\"", "is missing or not a matrix [H, H]")
    }
    let h = recurrent.shape[1]
    let rows = recurrent.shape[0]
    if rows == 4 * h {
      throw fail("\"\(recurrentKeyName)\"", "has 4H = \(rows) rows: an LSTM; only nn.RNN is read")
    }
    if rows == 3 * h {
      throw fail("\"\(recurrentKeyName)\"", "has 3H = \(rows) rows: a GRU; only nn.RNN is read")
    }
    guard rows == h else {
      throw fail("\"\(recurrentKeyName)\"", "has shape \(recurrent.shape), expected [H, H]")
    }
    guard input.shape[0] == h, input.shape[1] > 0 else {
      throw fail("\"\(inputKey)\"", "has shape \(input.shape), expected [\(h), X]")
    }
    let x = input.shape[1]
    func bias(_ key: String) throws -> [Float]? {
      guard let tensor = tensors[key] else { return nil }
      guard tensor.shape == [h] else {
        throw fail("\"\(key)\"", "has shape \(tensor.shape), expected [\(h)]")
      }
      return try tensor.load().floats()
    }
    let biasIH = try bias(prefix + "bias_ih_l0")
    let biasHH = try bias(prefix + "bias_hh_l0")

    // The output layer and the embedding, preferably beside the RNN (same parent module).
    let parent = String(prefix.dropLast().split(separator: ".").dropLast().joined(separator: "."))
    var linears: [String] = []
    var unbiased: [String] = []
    var embeddings: [String] = []
    for (key, tensor) in tensors where !ownKeys.contains(key) && tensor.shape.count == 2 {
      guard key.hasSuffix("weight"), isModulePrefix(key.dropLast(6)) else { continue }
      let module = String(key.dropLast(6))
      let biasShape = tensors[module + "bias"]?.shape
      if tensor.shape[1] == h {
        if biasShape == [tensor.shape[0]] {
          linears.append(module)
        } else if biasShape == nil {
          unbiased.append(module)
        }
      }
      if tensor.shape[1] == x, biasShape == nil { embeddings.append(module) }
    }
    func nearest(_ modules: [String]) -> [String] {
      let beside = modules.filter { parent.isEmpty || $0.hasPrefix(parent + ".") }
      return beside.isEmpty ? modules : beside
    }
    let outputModule: String
    let candidates = nearest(linears)
    if candidates.count == 1 {
      outputModule = candidates[0]
    } else if candidates.isEmpty, nearest(unbiased).count == 1, x != h || embeddings.count != 1 {
      outputModule = nearest(unbiased)[0]
    } else if candidates.isEmpty {
      throw fail(
        "state dict",
        "has no single nn.Linear with input size H = \(h) (a key \"<module>.weight\" of shape [O, \(h)])")
    } else {
      throw fail("state dict", "has several nn.Linear layers with input size H = \(h): \(quoted(candidates))")
    }
    let embeddingCandidates = nearest(embeddings.filter { $0 != outputModule })
    guard embeddingCandidates.count <= 1 else {
      throw fail(
        "state dict", "has several nn.Embedding candidates of width X = \(x): \(quoted(embeddingCandidates))")
    }

    // W = [W_h | W_x], with W_x = weight_ih · Eᵀ when an embedding feeds the RNN.
    let inputParameter = try input.load()
    var wx = inputParameter.floats()
    var columns = x
    if let embedding = embeddingCandidates.first, let table = tensors[embedding + "weight"] {
      let n = table.shape[0]
      // The folded matrix is H×N, which the file's own sizes do not bound: cap it and the work.
      let (elements, o1) = h.multipliedReportingOverflow(by: n)
      let (work, o2) = elements.multipliedReportingOverflow(by: x)
      guard !o1, !o2, elements <= maxFoldedElements, work <= maxFoldingWork else {
        throw fail(
          "\"\(embedding)weight\"",
          "folding a [\(n), \(x)] embedding into [\(h), \(x)] input weights is over the limit of \(maxFoldedElements) weights"
        )
      }
      let e = try table.load().floats()
      var folded = [Float](repeating: 0, count: h * n)
      wx.withUnsafeBufferPointer { w in
        e.withUnsafeBufferPointer { e in
          for i in 0..<h {
            let row = w.baseAddress! + i * x
            for v in 0..<n {
              let column = e.baseAddress! + v * x
              var sum: Float = 0
              for k in 0..<x { sum += row[k] * column[k] }
              folded[i * n + v] = sum
            }
          }
        }
      }
      wx = folded
      columns = n
    }
    let wh = try recurrent.load().floats()
    var w: [Float] = []
    w.reserveCapacity(h * (h + columns))
    for i in 0..<h {
      w += wh[(i * h)..<((i + 1) * h)]
      w += wx[(i * columns)..<((i + 1) * columns)]
    }
    var b = [Float](repeating: 0, count: h)
    for k in 0..<h { b[k] = (biasIH?[k] ?? 0) + (biasHH?[k] ?? 0) }
    let outputWeight = tensors[outputModule + "weight"]!
    let v = try outputWeight.load()
    let o = outputWeight.shape[0]
    let c =
      try tensors[outputModule + "bias"]?.load() ?? Parameter([Float](repeating: 0, count: o), shape: [o])

    let metadataFail = { (key: String, reason: String, input: ModelInput?) -> any Error in
      PyTorchError(
        path: path, part: "metadata",
        reason: input == nil ? reason : "\(key) is not stored in a PyTorch state dict", requestedInput: input)
    }
    let f = try metadata.activation(
      Schema.hiddenActivation, options.hiddenActivation, HiddenActivation.init(name:),
      input: .hiddenActivation,
      fail: metadataFail)
    let g = try metadata.activation(
      Schema.outputActivation, options.outputActivation, OutputActivation.init(name:),
      input: .outputActivation,
      fail: metadataFail)
    let tokens = try metadata.tokens(options: options, fail: metadataFail)
    let weights = Parameter(w, shape: [h, h + columns], dtype: inputParameter.dtype)
    let biases = Parameter(b, shape: [h], dtype: inputParameter.dtype)
    let tokenizer = metadata.tokenizer(tokens: tokens)
    let provenance = metadata.provenance(sourceFormat: sourceFormat)
    do {
      // With the embedding folded in, W_x has one column per token, as a one-hot input does.
      let input = try InputKind.ofDenseInput(features: columns, vocabulary: tokens)
      return try ElmanModel(
        W: weights, b: biases, V: v, c: c, hiddenActivation: f, outputActivation: g,
        inputKind: input.kind, vocabulary: input.vocabulary,
        tokenizer: tokenizer,
        provenance: provenance)
    } catch {
      throw ModelFileError(path: path, error: error)
    }
  }

  /// Throws unless `model`'s hidden activation is one `nn.RNN` has.
  static func checkActivation(of model: ElmanModel, path: String) throws {
    guard model.hiddenActivation == .tanh || model.hiddenActivation == .relu else {
      throw PyTorchError(
        path: path, part: "hidden activation",
        reason:
          "\(model.hiddenActivation.rawValue) has no nn.RNN equivalent; PyTorch's nn.RNN supports tanh and relu"
      )
    }
  }

  /// The state dict of `model` as `nn.RNN` under `rnn.` and `nn.Linear` under `fc.`; f must be
  /// one `nn.RNN` has.
  static func tensors(of model: ElmanModel, path: String) throws -> [(
    name: String, shape: [Int], values: [Float]
  )] {
    try tensors(of: model, path: path) { $0.floats() }
  }

  /// The state dict with values read by `values`: `doubles()` keeps f64 weights exact.
  static func tensors<T: BinaryFloatingPoint>(
    of model: ElmanModel, path: String, values: (Parameter) -> [T]
  ) throws -> [(name: String, shape: [Int], values: [T])] {
    try checkActivation(of: model, path: path)
    let h = model.hiddenSize
    let x = model.inputSize
    let w = values(model.W)
    var wh: [T] = []
    var wx: [T] = []
    wh.reserveCapacity(h * h)
    wx.reserveCapacity(h * x)
    for i in 0..<h {
      wh += w[(i * (h + x))..<(i * (h + x) + h)]
      wx += w[(i * (h + x) + h)..<((i + 1) * (h + x))]
    }
    return [
      ("rnn.weight_ih_l0", [h, x], wx), ("rnn.weight_hh_l0", [h, h], wh),
      ("rnn.bias_ih_l0", [h], values(model.b)),
      ("rnn.bias_hh_l0", [h], [T](repeating: 0, count: h)),
      ("fc.weight", [model.outputSize, h], values(model.V)),
      ("fc.bias", [model.outputSize], values(model.c)),
    ]
  }
}
