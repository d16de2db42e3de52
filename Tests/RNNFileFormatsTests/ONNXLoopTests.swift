import Foundation
import RNNFileFormats
import RNNModel
import Testing

/// A node with attributes, for graphs the plain `node` helper cannot express.
private func node(
  _ op: String, _ inputs: [String], _ outputs: [String], ints: [String: [Int64]] = [:],
  int: [String: Int64] = [:],
  graph: (String, [UInt8])? = nil
) -> [UInt8] {
  Proto.message { node in
    for input in inputs { node.string(1, input) }
    for output in outputs { node.string(2, output) }
    node.string(4, op)
    for (name, values) in ints.sorted(by: { $0.key < $1.key }) {
      node.bytes(
        5,
        Proto.message {
          $0.string(1, name)
          for value in values { $0.int(8, value) }
          $0.int(20, 7)
        })
    }
    for (name, value) in int.sorted(by: { $0.key < $1.key }) {
      node.bytes(
        5,
        Proto.message {
          $0.string(1, name)
          $0.int(3, value)
          $0.int(20, 2)
        })
    }
    if let (name, body) = graph {
      node.bytes(
        5,
        Proto.message {
          $0.string(1, name)
          $0.bytes(6, body)
          $0.int(20, 5)
        })
    }
  }
}

/// A float32 initializer (raw little-endian data).
private func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> [UInt8] {
  Proto.message { tensor in
    for dim in dims { tensor.int(1, dim) }
    tensor.int(2, 1)
    tensor.string(8, name)
    tensor.bytes(
      9, values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) })
  }
}

/// An integer initializer: int32 (data type 6) or int64 (7), in the typed fields.
private func integers(_ name: String, _ dims: [Int64], _ values: [Int64], type: Int64 = 7) -> [UInt8] {
  Proto.message { tensor in
    for dim in dims { tensor.int(1, dim) }
    tensor.int(2, type)
    for value in values { tensor.int(type == 7 ? 7 : 5, value) }
    tensor.string(8, name)
  }
}

/// What to change in the tf2onnx-shaped graph: `linear` drops the activation (Keras' "linear"),
/// the others break one part.
private enum Variant {
  case none, linear, increment, initialState, timeAxis, tripCount, iterationOnly, narrowCast, strayBodyNode
  case noTranspose, constantSteps
}

/// A graph shaped like what tf2onnx 1.16 writes for Keras `SimpleRNN(2)` + `Dense(2)` on dense
/// input of 3 features (docs/ONNX.md), with known weights, optionally broken in one place.
private func tf2onnxShaped(_ broken: Variant = .none) -> [UInt8] {
  let body = Proto.message { g in
    for step in [
      node("MatMul", ["h_in", "R_in"], ["hr"]),
      node("Add", ["c_in", "one"], ["c_out"]),
      node("Gather", ["seq", "c_in"], ["xt"]),
      node("MatMul", ["xt", "K_in"], ["xk"]),
      node("Add", ["xk", "b_in"], ["xkb"]),
      node("Add", ["xkb", "hr"], [broken == .linear ? "h_out" : "z"]),
      node("Identity", ["h_out"], ["h_scan"]),
      node(
        "Cast", [broken == .iterationOnly ? "iter" : "c_out"], ["cf"],
        int: ["to": broken == .narrowCast ? 2 : 1]),
      node("Cast", ["T_in"], ["tf"], int: ["to": 1]),
      node("Less", ["cf", "tf"], ["cond_out"]),
    ] {
      g.bytes(1, step)
    }
    if broken != .linear { g.bytes(1, node("Tanh", ["z"], ["h_out"])) }
    if broken == .strayBodyNode { g.bytes(1, node("Relu", ["xt"], ["unused"])) }
    g.bytes(5, integers("one", [], [broken == .increment ? 2 : 1], type: 6))
    for name in ["iter", "cond", "c_in", "h_in", "T_in", "K_in", "b_in", "R_in"] {
      g.bytes(11, Proto.message { $0.string(1, name) })
    }
    for name in ["cond_out", "c_out", "h_out", "T_in", "K_in", "b_in", "R_in", "h_scan"] {
      g.bytes(12, Proto.message { $0.string(1, name) })
    }
  }
  let graph = Proto.message { g in
    var steps: [[UInt8]] = []
    if broken == .noTranspose {
      steps.append(node("Identity", ["x"], ["seq"]))
    } else {
      steps.append(node("Transpose", ["x"], ["seq"], ints: ["perm": [1, 0, 2]]))
    }
    steps += [
      node("Shape", ["seq"], ["shape"]),
      node(
        "Slice",
        [
          "shape", broken == .timeAxis ? "one64" : "zero64", broken == .timeAxis ? "two64" : "one64",
          "zero64",
        ], ["t1"]),
      node("Squeeze", ["t1", "zero64"], ["T"]),
      node("Cast", ["T"], ["Tf"], int: ["to": 1]),
      node("Less", ["zero", "Tf"], ["cond0"]),
      node("Shape", ["x"], ["xshape"]),
      node("Slice", ["xshape", "zero64", "one64", "zero64"], ["batch"]),
      node("Concat", ["batch", "hidden64"], ["zshape"], int: ["axis": 0]),
      node("Expand", [broken == .initialState ? "half" : "zero", "zshape"], ["h0"]),
      node(
        "Loop",
        [
          broken == .tripCount ? "batch" : "", "cond0", "counter0", "h0",
          broken == .constantSteps ? "six" : "T", "K",
          "b", "R",
        ],
        ["o_c", "o_h", "o_T", "o_K", "o_b", "o_R", "states"], graph: ("body", body)),
      node("Slice", ["states", "last64", "end64", "zero64"], ["last"]),
      node("Squeeze", ["last", "zero64"], ["hl"]),
      node("MatMul", ["hl", "Vt"], ["m"]),
      node("Add", ["m", "c"], ["y"]),
    ]
    for step in steps { g.bytes(1, step) }
    // K is [X, H], R [H, H], Vt [H, O]: Keras' layout, transposed from the model's.
    for tensor in [
      floats("K", [3, 2], [1, 2, 3, 4, 5, 6]), floats("R", [2, 2], [7, 8, 9, 10]),
      floats("b", [2], [11, 12]),
      floats("Vt", [2, 2], [13, 14, 15, 16]), floats("c", [2], [17, 18]), floats("zero", [], [0]),
      floats("half", [], [0.5]), integers("counter0", [], [0], type: 6), integers("six", [], [6], type: 6),
      integers("zero64", [1], [0]),
      integers("one64", [1], [1]), integers("two64", [1], [2]), integers("last64", [1], [-1]),
      integers("end64", [1], [Int64(Int32.max)]), integers("hidden64", [1], [2]),
    ] {
      g.bytes(5, tensor)
    }
    g.bytes(11, floatInput("x", rank: 3))
    g.bytes(12, Proto.message { $0.string(1, "y") })
  }
  return modelBytes(graph: graph)
}

/// The `Loop` form tf2onnx writes for a Keras SimpleRNN: read exactly from a graph built here, from
/// real tf2onnx files kept in Fixtures/ (checked against Keras' predict), and refused in one line
/// when one part does not fit.
@Suite struct ONNXLoopTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func write(_ bytes: [UInt8]) throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-loop-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("loop.onnx").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test(arguments: [(Variant.none, HiddenActivation.tanh), (.linear, .identity)])
  fileprivate func theWeightsMapOntoTheElmanModel(variant: Variant, f: HiddenActivation) throws {
    let model = try ONNXFormat().read(path: try write(tf2onnxShaped(variant)), options: ImportOptions())
    // W = [W_h | W_x] = [Rᵀ | Kᵀ], V = Vtᵀ.
    #expect(model.W.shape == [2, 5] && model.W.floats() == [7, 9, 1, 3, 5, 8, 10, 2, 4, 6])
    #expect(
      model.b.floats() == [11, 12] && model.V.floats() == [13, 15, 14, 16] && model.c.floats() == [17, 18])
    #expect(
      model.hiddenActivation == f && model.outputActivation == .identity && model.inputKind == .dense)
  }

  /// h_t = f(W·[h_{t-1}; x_t] + b), y_t = g(V·h_t + c) in plain Swift, for relu or tanh and
  /// identity, sigmoid or softmax: the runtime is not a dependency of this suite.
  static func outputs(_ model: ElmanModel, _ inputs: [[Float]]) -> [[Double]] {
    let (h, x, o) = (model.hiddenSize, model.inputSize, model.outputSize)
    let (w, b, v, c) = (model.W.floats(), model.b.floats(), model.V.floats(), model.c.floats())
    var state = [Double](repeating: 0, count: h)
    var result: [[Double]] = []
    for input in inputs {
      state = (0..<h).map { row in
        var sum = Double(b[row])
        for k in 0..<h { sum += Double(w[row * (h + x) + k]) * state[k] }
        for k in 0..<x { sum += Double(w[row * (h + x) + h + k]) * Double(input[k]) }
        return model.hiddenActivation == .relu ? max(0, sum) : tanh(sum)
      }
      var y = (0..<o).map { row in
        (0..<h).reduce(Double(c[row])) { $0 + Double(v[row * h + $1]) * state[$1] }
      }
      if model.outputActivation == .sigmoid { y = y.map { 1 / (1 + exp(-$0)) } }
      if model.outputActivation == .softmax {
        let top = y.max() ?? 0
        let exps = y.map { exp($0 - top) }
        y = exps.map { $0 / exps.reduce(0, +) }
      }
      result.append(y)
    }
    return result
  }

  /// Real tf2onnx output (kept in Fixtures/ and remade by `scripts/interop/tf2onnx_client.py
  /// fixtures`) reads as a model whose outputs match Keras' predict, stored beside it, within 1e-5
  /// (relu 1e-4 relative).
  @Test(arguments: [
    ("tf2onnx-dense-relu.onnx", HiddenActivation.relu, OutputActivation.identity, false),
    ("tf2onnx-tokens-timedistributed.onnx", .relu, .softmax, true),
    // Input((6, 3), batch_size=3): a constant step count, and Gemm(x_t, K, b), Gemm(h, R, ·) in the body.
    ("tf2onnx-dense-fixed-batch.onnx", .relu, .identity, true),
    // TensorFlow 2.21 (Keras 3) with tf2onnx 1.17.0: the Loop also takes a trip count M, and its
    // conditions are Ands of two Less.
    ("tf2onnx-keras3-dense-sequence.onnx", .tanh, .sigmoid, true),
  ])
  func realTF2ONNXFilesMatchKeras(file: String, f: HiddenActivation, g: OutputActivation, everyStep: Bool)
    throws
  {
    let fixtures = Self.root.appendingPathComponent("Fixtures")
    let stored = try JSONSerialization.jsonObject(
      with: Data(contentsOf: fixtures.appendingPathComponent("tf2onnx-simplernn.json")))
    let expected = try #require((stored as? [String: [String: Any]])?[file])
    let tokens = expected["inputs"] as? [[Int]]
    let model = try ONNXFormat().read(
      path: fixtures.appendingPathComponent(file).path,
      options: ImportOptions(vocabularyTokens: tokens == nil ? nil : (0..<9).map { "t\($0)" }))
    #expect(model.hiddenActivation == f && model.outputActivation == g)
    #expect(model.inputKind == (tokens == nil ? .dense : .tokens))
    let rows = try #require(
      tokens.map { $0.map { $0.map { id in (0..<9).map { Float($0 == id ? 1 : 0) } } } }
        ?? (expected["inputs"] as? [[[Double]]])?.map { $0.map { $0.map(Float.init) } })
    let keras: [[[Double]]] = try #require(
      everyStep ? expected["keras"] as? [[[Double]]] : (expected["keras"] as? [[Double]])?.map { [$0] })
    #expect(rows.count == 3 && keras.count == 3)
    let tolerance = f == .relu ? 1e-4 : 1e-5
    for (row, inputs) in rows.enumerated() {
      let ours = Self.outputs(model, inputs)
      let compared = everyStep ? ours : Array(ours.suffix(1))
      #expect(compared.count == keras[row].count)
      for (a, b) in zip(compared.joined(), keras[row].joined()) {
        #expect(abs(a - b) <= tolerance * max(1, abs(b)), "\(file) row \(row)")
      }
    }
  }

  @Test(arguments: [
    (Variant.increment, "node 10 (Loop): body node 1 (Add) must add 1 to the step counter"),
    (.initialState, "node 10 (Loop): initial_h \"half\" is a nonzero constant"),
    (.timeAxis, "node 10 (Loop): step count \"T\" is not the length of the input's time axis"),
    (.tripCount, "node 10 (Loop): trip count M \"batch\" is not the step count \"T\""),
    (.iterationOnly, "node 10 (Loop): may run past the last step"),
    (.narrowCast, "node 10 (Loop): body node 9 (Less) must compare counter + 1 or the iteration number"),
    (.strayBodyNode, "node 10 (Loop): body node 11 (Relu) does not fit an Elman step"),
    (.noTranspose, "node 0 (Identity): feeds the loop's sequence"),
    // A constant step count needs an input that declares that many steps; x's are symbolic.
    (.constantSteps, "node 10 (Loop): step count \"six\" is not the length of the input's time axis"),
  ])
  fileprivate func aPartThatDoesNotFitIsNamed(broken: Variant, reason: String) throws {
    let path = try write(tf2onnxShaped(broken))
    #expect {
      _ = try ONNXFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      let message = "\(error)"
      return message.hasPrefix(path) && message.contains(reason)
        && !message.contains("\n")
    }
  }
}
