import Foundation
import RNNFormat
import RNNModel

/// Builds the ONNX graph of an Elman model (docs/ONNX.md, "Graph interface").
///
/// The recurrence is the standard `RNN` operator. Token models gather rows of the table E = W_xᵀ
/// (one row per token) and feed them to the RNN with W = I: a gather costs H per step where a
/// one-hot product would cost H·X, and the identity product is exact, so W_x and b read back
/// bit for bit. An f the operator lacks (silu) is written as a `Scan` whose body is one step.
enum ONNXExport {
  static let opset: Int64 = 17
  static let irVersion: Int64 = 8

  /// The RNN operator's name and parameters for f; nil when the operator has no such activation.
  static func rnnActivation(_ f: HiddenActivation) -> (name: String, alpha: Float?, beta: Float?)? {
    switch f {
    case .tanh: return ("Tanh", nil, nil)
    case .relu: return ("Relu", nil, nil)
    case .sigmoid: return ("Sigmoid", nil, nil)
    case .softsign: return ("Softsign", nil, nil)
    case .softplus: return ("Softplus", nil, nil)
    case .elu: return ("Elu", 1, nil)
    case .identity: return ("Affine", 1, 0)
    case .silu: return nil
    }
  }

  static func model(for model: ElmanModel) throws(ONNXExportError) -> ONNXModel {
    let activation = rnnActivation(model.hiddenActivation)
    let h = model.hiddenSize
    let x = model.inputSize
    let w = model.W.floats()
    let b = model.b.floats()
    let columns = h + x
    var graph = ONNXGraph()
    graph.name = "elman"
    var nodes: [ONNXNode] = []
    func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [ONNXAttribute] = []) {
      nodes.append(
        ONNXNode(inputs: inputs, outputs: outputs, name: outputs[0], opType: op, attributes: attributes))
    }

    guard let activation else {
      // f has no RNN operator activation (silu): a Scan whose body is one step.
      scanRecurrence(model, graph: &graph, node: node)
      return try finish(model, graph: graph, nodes: nodes)
    }

    // R = W_h, the recurrent block.
    var recurrent = [Float](repeating: 0, count: h * h)
    for row in 0..<h { for column in 0..<h { recurrent[row * h + column] = w[row * columns + column] } }
    graph.initializers.append(floatTensor("rnn.R", [1, h, h], recurrent))

    let batchSource: String
    var rnnInputs: [String]
    if model.inputKind == .tokens {
      // E[token] = W_x[:, token].
      var table = [Float](repeating: 0, count: x * h)
      for token in 0..<x { for row in 0..<h { table[token * h + row] = w[row * columns + h + token] } }
      var identity = [Float](repeating: 0, count: h * h)
      for row in 0..<h { identity[row * h + row] = 1 }
      graph.initializers += [
        floatTensor("embedding", [x, h], table), floatTensor("rnn.W", [1, h, h], identity),
        floatTensor("rnn.B", [1, 2 * h], b + [Float](repeating: 0, count: h)),
      ]
      graph.inputs.append(
        ONNXValueInfo(
          name: "tokens", elementType: ONNXDataType.int64.rawValue,
          shape: [.parameter("batch"), .parameter("time")]))
      node("Transpose", ["tokens"], ["tokens_time_major"], [ints("perm", [1, 0])])
      node("Gather", ["embedding", "tokens_time_major"], ["rnn_input"], [int("axis", 0)])
      batchSource = "tokens"
      rnnInputs = ["rnn_input", "rnn.W", "rnn.R", "rnn.B"]
    } else {
      var input = [Float](repeating: 0, count: h * x)
      for row in 0..<h { for column in 0..<x { input[row * x + column] = w[row * columns + h + column] } }
      graph.initializers += [
        floatTensor("rnn.W", [1, h, x], input),
        floatTensor("rnn.B", [1, 2 * h], b + [Float](repeating: 0, count: h)),
      ]
      graph.inputs.append(
        ONNXValueInfo(
          name: "inputs", elementType: ONNXDataType.float.rawValue,
          shape: [.parameter("batch"), .parameter("time"), .value(Int64(x))]))
      node("Transpose", ["inputs"], ["rnn_input"], [ints("perm", [1, 0, 2])])
      batchSource = "inputs"
      rnnInputs = ["rnn_input", "rnn.W", "rnn.R", "rnn.B"]
    }

    // initial_hidden is a graph input with a default (an initializer of the same name), so callers
    // may leave it out; Expand broadcasts the [1, H] zero default to the batch.
    graph.inputs.append(
      ONNXValueInfo(
        name: "initial_hidden", elementType: ONNXDataType.float.rawValue,
        shape: [.parameter("batch"), .value(Int64(h))]))
    graph.initializers += [
      floatTensor("initial_hidden", [1, h], [Float](repeating: 0, count: h)),
      int64Tensor("hidden_size", [1], [Int64(h)]),
      int64Tensor("axis_0", [1], [0]),
      int64Tensor("axis_1", [1], [1]),
    ]
    node("Shape", [batchSource], ["batch_size"], [int("start", 0), int("end", 1)])
    node("Concat", ["batch_size", "hidden_size"], ["initial_shape"], [int("axis", 0)])
    node("Expand", ["initial_hidden", "initial_shape"], ["initial_batch"])
    node("Unsqueeze", ["initial_batch", "axis_0"], ["initial_h"])
    rnnInputs += ["", "initial_h"]

    var rnnAttributes = [int("hidden_size", Int64(h)), strings("activations", [activation.name])]
    if let alpha = activation.alpha { rnnAttributes.append(floats("activation_alpha", [alpha])) }
    if let beta = activation.beta { rnnAttributes.append(floats("activation_beta", [beta])) }
    node("RNN", rnnInputs, ["rnn_y", "rnn_y_h"], rnnAttributes)
    node("Squeeze", ["rnn_y", "axis_1"], ["hidden_time_major"])
    node("Transpose", ["hidden_time_major"], ["hidden"], [ints("perm", [1, 0, 2])])
    node("Squeeze", ["rnn_y_h", "axis_0"], ["final_hidden"])

    return try finish(model, graph: graph, nodes: nodes)
  }

  /// Adds the head (hidden · Vᵀ + c, then g), the outputs and the model fields.
  private static func finish(_ model: ElmanModel, graph: ONNXGraph, nodes: [ONNXNode])
    throws(ONNXExportError) -> ONNXModel
  {
    var graph = graph
    var nodes = nodes
    func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [ONNXAttribute] = []) {
      nodes.append(
        ONNXNode(inputs: inputs, outputs: outputs, name: outputs[0], opType: op, attributes: attributes))
    }
    let h = model.hiddenSize
    let o = model.outputSize
    let v = model.V.floats()
    var vt = [Float](repeating: 0, count: h * o)
    for row in 0..<o { for column in 0..<h { vt[column * o + row] = v[row * h + column] } }
    graph.initializers += [
      floatTensor("head.weight", [h, o], vt), floatTensor("head.bias", [o], model.c.floats()),
    ]
    node("MatMul", ["hidden", "head.weight"], ["head_product"])
    switch model.outputActivation {
    case .identity: node("Add", ["head_product", "head.bias"], ["output"])
    case .softmax:
      node("Add", ["head_product", "head.bias"], ["logits"])
      node("Softmax", ["logits"], ["output"], [int("axis", -1)])
    case .sigmoid:
      node("Add", ["head_product", "head.bias"], ["logits"])
      node("Sigmoid", ["logits"], ["output"])
    }
    graph.nodes = nodes
    let float = ONNXDataType.float.rawValue
    graph.outputs = [
      ONNXValueInfo(
        name: "hidden", elementType: float,
        shape: [.parameter("batch"), .parameter("time"), .value(Int64(h))]),
      ONNXValueInfo(
        name: "output", elementType: float,
        shape: [.parameter("batch"), .parameter("time"), .value(Int64(o))]),
      ONNXValueInfo(
        name: "final_hidden", elementType: float, shape: [.parameter("batch"), .value(Int64(h))]),
    ]

    var result = ONNXModel()
    result.irVersion = irVersion
    result.opsets = [("", opset)]
    result.producerName = "RNNKit"
    result.graph = graph
    result.metadata = try metadata(for: model)
    return result
  }

  /// The recurrence as a `Scan`, for an f the RNN operator lacks (silu). The input projection
  /// (rows of E = W_xᵀ gathered by token, or a MatMul by W_xᵀ) plus b runs for all steps at once;
  /// the body adds h_{t-1}·W_hᵀ and applies f. Scan walks axis 1, so no transposes are needed.
  private static func scanRecurrence(
    _ model: ElmanModel, graph: inout ONNXGraph,
    node: (String, [String], [String], [ONNXAttribute]) -> Void
  ) {
    let h = model.hiddenSize
    let x = model.inputSize
    let columns = h + x
    let w = model.W.floats()
    var recurrentT = [Float](repeating: 0, count: h * h)
    for row in 0..<h { for column in 0..<h { recurrentT[column * h + row] = w[row * columns + column] } }
    var inputT = [Float](repeating: 0, count: x * h)
    for row in 0..<h { for column in 0..<x { inputT[column * h + row] = w[row * columns + h + column] } }
    let float = ONNXDataType.float.rawValue
    let batch: [ONNXDimension] = [.parameter("batch"), .value(Int64(h))]
    graph.initializers += [
      floatTensor("scan.recurrent", [h, h], recurrentT), floatTensor("scan.bias", [h], model.b.floats()),
      floatTensor("initial_hidden", [1, h], [Float](repeating: 0, count: h)),
      int64Tensor("hidden_size", [1], [Int64(h)]),
    ]
    let source: String
    if model.inputKind == .tokens {
      source = "tokens"
      graph.initializers.append(floatTensor("embedding", [x, h], inputT))
      graph.inputs.append(
        ONNXValueInfo(
          name: source, elementType: ONNXDataType.int64.rawValue,
          shape: [.parameter("batch"), .parameter("time")]))
      node("Gather", ["embedding", source], ["projection"], [int("axis", 0)])
    } else {
      source = "inputs"
      graph.initializers.append(floatTensor("scan.input", [x, h], inputT))
      graph.inputs.append(
        ONNXValueInfo(
          name: source, elementType: float,
          shape: [.parameter("batch"), .parameter("time"), .value(Int64(x))]))
      node("MatMul", [source, "scan.input"], ["projection"], [])
    }
    node("Add", ["projection", "scan.bias"], ["scan_input"], [])
    graph.inputs.append(ONNXValueInfo(name: "initial_hidden", elementType: float, shape: batch))
    node("Shape", [source], ["batch_size"], [int("start", 0), int("end", 1)])
    node("Concat", ["batch_size", "hidden_size"], ["initial_shape"], [int("axis", 0)])
    node("Expand", ["initial_hidden", "initial_shape"], ["initial_batch"], [])

    var body = ONNXGraph()
    body.name = "step"
    body.inputs = [
      ONNXValueInfo(name: "state_in", elementType: float, shape: batch),
      ONNXValueInfo(name: "step_in", elementType: float, shape: batch),
    ]
    body.outputs = [
      ONNXValueInfo(name: "state_out", elementType: float, shape: batch),
      ONNXValueInfo(name: "step_out", elementType: float, shape: batch),
    ]
    body.nodes = [
      ONNXNode(
        inputs: ["state_in", "scan.recurrent"], outputs: ["recurrent"], name: "recurrent", opType: "MatMul"),
      ONNXNode(
        inputs: ["recurrent", "step_in"], outputs: ["preactivation"], name: "preactivation", opType: "Add"),
      // silu(z) = z · sigmoid(z)
      ONNXNode(inputs: ["preactivation"], outputs: ["gate"], name: "gate", opType: "Sigmoid"),
      ONNXNode(inputs: ["preactivation", "gate"], outputs: ["state_out"], name: "state_out", opType: "Mul"),
      ONNXNode(inputs: ["state_out"], outputs: ["step_out"], name: "step_out", opType: "Identity"),
    ]
    node(
      "Scan", ["initial_batch", "scan_input"], ["final_hidden", "hidden"],
      [
        ONNXAttribute(name: "body", type: ONNXAttribute.Kind.graph.rawValue, graphs: [body]),
        int("num_scan_inputs", 1), ints("scan_input_axes", [1]), ints("scan_output_axes", [1]),
      ])
  }

  /// The `.rnn` metadata keys as strings, and the vocabulary as a JSON array.
  static func metadata(for model: ElmanModel) throws(ONNXExportError) -> [(key: String, value: String)] {
    var entries: [(key: String, value: String)] = []
    for (key, value) in model.containerMetadata {
      switch value {
      case .string(let s): entries.append((key, s))
      case .bool(let flag): entries.append((key, flag ? "true" : "false"))
      case .int(let i): entries.append((key, String(i)))
      case .float(let d): entries.append((key, String(d)))
      default: continue
      }
    }
    if let vocabulary = model.vocabulary {
      guard let json = try? JSONSerialization.data(withJSONObject: vocabulary.tokens) else {
        throw ONNXExportError(reason: "the vocabulary cannot be written as JSON")
      }
      entries.append((ONNXFormat.vocabularyKey, String(decoding: json, as: UTF8.self)))
    }
    return entries.sorted { $0.key < $1.key }
  }

  static func floatTensor(_ name: String, _ dims: [Int], _ values: [Float]) -> ONNXTensor {
    let raw = values.withUnsafeBufferPointer { FloatCodec.encode($0, as: .f32) }
    return ONNXTensor(
      name: name, dims: dims.map(Int64.init), dataType: ONNXDataType.float.rawValue, rawData: raw)
  }

  static func int64Tensor(_ name: String, _ dims: [Int], _ values: [Int64]) -> ONNXTensor {
    ONNXTensor(
      name: name, dims: dims.map(Int64.init), dataType: ONNXDataType.int64.rawValue, int64Data: values)
  }

  static func int(_ name: String, _ value: Int64) -> ONNXAttribute {
    ONNXAttribute(name: name, type: ONNXAttribute.Kind.int.rawValue, i: value)
  }

  static func ints(_ name: String, _ values: [Int64]) -> ONNXAttribute {
    ONNXAttribute(name: name, type: ONNXAttribute.Kind.ints.rawValue, ints: values)
  }

  static func floats(_ name: String, _ values: [Float]) -> ONNXAttribute {
    ONNXAttribute(name: name, type: ONNXAttribute.Kind.floats.rawValue, floats: values)
  }

  static func strings(_ name: String, _ values: [String]) -> ONNXAttribute {
    ONNXAttribute(
      name: name, type: ONNXAttribute.Kind.strings.rawValue, strings: values.map { Array($0.utf8) })
  }
}

/// Why a model cannot be exported to ONNX.
struct ONNXExportError: Error {
  var reason: String
}
