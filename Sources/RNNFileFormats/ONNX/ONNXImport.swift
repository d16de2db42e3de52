import Foundation
import RNNFormat
import RNNModel

/// Why a decoded ONNX graph is not an Elman network RNNKit can read.
struct ONNXImportFailure: Error {
  var part: String
  var reason: String
  var requestedInput: ModelInput?
}

/// Reads an Elman network out of a decoded ONNX graph (docs/ONNX.md, "What is read"): one
/// forward `RNN` node (or the `Scan` RNNKit writes for silu, or the `Loop` tf2onnx writes for a
/// Keras SimpleRNN, in `ONNXImport+Loop.swift`) fed by a graph input, a Gather from an embedding
/// table or a OneHot, followed by MatMul or Gemm, Add, and optionally Softmax or Sigmoid. Every node must take part in that pattern, in the zero initial state or in moving axes
/// to a graph output; the first that does not is named in the error.
struct ONNXImport {
  private let model: ONNXModel
  private let options: ImportOptions
  private let formatName: String
  var graph: ONNXGraph { model.graph }
  var constants: [String: ONNXTensor] = [:]
  var producer: [String: Int] = [:]
  var consumers: [String: [Int]] = [:]
  var graphInputs: [String: ONNXValueInfo] = [:]
  var graphOutputs: Set<String> = []
  var used = Set<Int>()
  private var opset: Int64 = 0

  /// The most entries W_x may have when it is folded from W and an embedding table (1 GiB of f32).
  static let maxComposedWeights = 1 << 28
  /// The most multiply-adds that folding may take.
  static let maxCompositionWork = 1 << 33

  /// Operators that only move, add or drop axes or change nothing, allowed between the parts.
  private static let layoutOperators: Set<String> = ["Transpose", "Squeeze", "Unsqueeze", "Identity"]
  /// Operators allowed in the subgraph that computes the shape of a zero initial state.
  private static let shapeOperators: Set<String> = [
    "Shape", "Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Cast", "Constant", "Reshape", "Identity",
  ]

  init(model: ONNXModel, options: ImportOptions, formatName: String) throws(ONNXImportFailure) {
    self.model = model
    self.options = options
    self.formatName = formatName
    guard let main = model.opsets.first(where: { $0.domain == "" || $0.domain == "ai.onnx" }) else {
      throw ONNXImportFailure(part: "opset_import", reason: "has no entry for the default ONNX domain")
    }
    opset = main.version
    for tensor in model.graph.initializers { constants[tensor.name] = tensor }
    for input in model.graph.inputs { graphInputs[input.name] = input }
    graphOutputs = Set(model.graph.outputs.map(\.name))
    for (index, node) in model.graph.nodes.enumerated() {
      guard node.domain.isEmpty || node.domain == "ai.onnx" else {
        throw fail(index, "is in domain \"\(node.domain)\", not the default ONNX domain")
      }
      for output in node.outputs where !output.isEmpty {
        guard producer[output] == nil, constants[output] == nil else {
          throw fail(index, "writes \"\(output)\", which another node or initializer already defines")
        }
        producer[output] = index
      }
      for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(index) }
      if node.opType == "Constant", let value = Self.constantValue(node) {
        constants[node.outputs.first ?? ""] = value
        used.insert(index)
      }
    }
  }

  // MARK: Helpers

  func describe(_ index: Int) -> String {
    let node = graph.nodes[index]
    return node.name.isEmpty
      ? "node \(index) (\(node.opType))" : "node \(index) \"\(node.name)\" (\(node.opType))"
  }

  func fail(_ index: Int, _ reason: String) -> ONNXImportFailure {
    ONNXImportFailure(part: describe(index), reason: reason)
  }

  func fail(_ part: String, _ reason: String) -> ONNXImportFailure {
    ONNXImportFailure(part: part, reason: reason)
  }

  static func constantValue(_ node: ONNXNode) -> ONNXTensor? {
    guard let attribute = node.attributes.first else { return nil }
    switch attribute.name {
    case "value": return attribute.t
    case "value_float":
      return attribute.f.map { ONNXTensor(dataType: ONNXDataType.float.rawValue, floatData: [$0]) }
    case "value_floats":
      return ONNXTensor(
        dims: [Int64(attribute.floats.count)], dataType: ONNXDataType.float.rawValue,
        floatData: attribute.floats)
    case "value_int":
      return attribute.i.map { ONNXTensor(dataType: ONNXDataType.int64.rawValue, int64Data: [$0]) }
    case "value_ints":
      return ONNXTensor(
        dims: [Int64(attribute.ints.count)], dataType: ONNXDataType.int64.rawValue, int64Data: attribute.ints)
    default: return nil
    }
  }

  /// The element count of `tensor`, overflow-checked.
  private func elementCount(_ tensor: ONNXTensor, _ part: String) throws(ONNXImportFailure) -> Int {
    var count = 1
    for dim in tensor.dims {
      guard dim >= 0, dim <= Int64(Int32.max) else { throw fail(part, "has dimension \(dim)") }
      let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
      guard !overflow, product <= 1 << 32 else { throw fail(part, "shape \(tensor.dims) is too large") }
      count = product
    }
    return count
  }

  private func checkStored(_ tensor: ONNXTensor, _ part: String) throws(ONNXImportFailure) {
    if tensor.isExternal {
      throw fail(part, "stores its data in an external file, which RNNKit does not read")
    }
    if tensor.hasSegment { throw fail(part, "is segmented, which RNNKit does not read") }
  }

  /// The values of a floating-point constant, and the dtype they were stored in.
  func floats(_ name: String, _ part: String) throws(ONNXImportFailure) -> (
    values: [Double], shape: [Int], dtype: DType
  ) {
    guard let tensor = constants[name] else { throw fail(part, "\"\(name)\" is not a constant") }
    return try floats(tensor, part)
  }

  /// The values of a floating-point tensor, and the dtype they were stored in.
  func floats(_ tensor: ONNXTensor, _ part: String) throws(ONNXImportFailure) -> (
    values: [Double], shape: [Int], dtype: DType
  ) {
    try checkStored(tensor, part)
    let count = try elementCount(tensor, part)
    let shape = tensor.dims.map { Int($0) }
    let dtype: DType
    switch ONNXDataType(rawValue: tensor.dataType) {
    case .float: dtype = .f32
    case .double: dtype = .f64
    case .float16: dtype = .f16
    case .bfloat16: dtype = .bf16
    default: throw fail(part, "has element type \(tensor.dataType), not a float type")
    }
    if let raw = tensor.rawData {
      let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
      guard !overflow, bytes == raw.count else {
        throw fail(part, "raw_data has \(raw.count) bytes for \(count) \(dtype) values")
      }
      if dtype == .f64 {
        return (
          raw.withUnsafeBytes { bytes in
            (0..<count).map {
              Double(
                bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))
              )
            }
          }, shape, dtype
        )
      }
      return (
        raw.withUnsafeBytes { FloatCodec.decode($0, dtype: dtype, count: count) }.map(Double.init), shape,
        dtype
      )
    }
    let values: [Double]
    switch dtype {
    case .f32: values = tensor.floatData.map(Double.init)
    case .f64: values = tensor.doubleData
    case .f16:
      values = tensor.int32Data.map { Double(FloatCodec.halfToFloat(UInt16(truncatingIfNeeded: $0))) }
    default:
      values = tensor.int32Data.map {
        Double(Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16))
      }
    }
    guard values.count == count else {
      throw fail(part, "has \(values.count) values for shape \(tensor.dims)")
    }
    return (values, shape, dtype)
  }

  /// The values of an integer constant.
  func integers(_ name: String, _ part: String) throws(ONNXImportFailure) -> [Int64] {
    guard let tensor = constants[name] else { throw fail(part, "\"\(name)\" is not a constant") }
    return try integers(tensor, part)
  }

  /// The values of an integer tensor.
  func integers(_ tensor: ONNXTensor, _ part: String) throws(ONNXImportFailure) -> [Int64] {
    try checkStored(tensor, part)
    let count = try elementCount(tensor, part)
    let values: [Int64]
    switch ONNXDataType(rawValue: tensor.dataType) {
    case .int64:
      if let raw = tensor.rawData {
        guard raw.count == count * 8 else { throw fail(part, "raw_data has \(raw.count) bytes") }
        values = raw.withUnsafeBytes { bytes in
          (0..<count).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
      } else {
        values = tensor.int64Data
      }
    case .int32:
      if let raw = tensor.rawData {
        guard raw.count == count * 4 else { throw fail(part, "raw_data has \(raw.count) bytes") }
        values = raw.withUnsafeBytes { bytes in
          (0..<count).map {
            Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)))
          }
        }
      } else {
        values = tensor.int32Data
      }
    default: throw fail(part, "has element type \(tensor.dataType), not int64 or int32")
    }
    guard values.count == count else {
      throw fail(part, "has \(values.count) values for shape \(tensor.dims)")
    }
    return values
  }

  func ints(_ index: Int, _ name: String) -> [Int64]? {
    graph.nodes[index].attribute(name).map(\.ints)
  }

  func int(_ index: Int, _ name: String) -> Int64? { graph.nodes[index].attribute(name)?.i }

  private func string(_ index: Int, _ name: String) -> String? {
    graph.nodes[index].attribute(name)?.s.map { String(decoding: $0, as: UTF8.self) }
  }

  /// The axes of a Squeeze or Unsqueeze: an attribute before opset 13, an input from 13 on.
  func axes(_ index: Int) throws(ONNXImportFailure) -> [Int64]? {
    let node = graph.nodes[index]
    if let attribute = ints(index, "axes") { return attribute }
    guard node.inputs.count > 1, !node.inputs[1].isEmpty else { return nil }
    return try integers(node.inputs[1], describe(index) + " axes")
  }

  /// The rank after a layout operator applied to a tensor of rank `rank`, checking that the last
  /// axis (the features) stays last.
  private func rankAfterLayout(_ index: Int, rank: Int) throws(ONNXImportFailure) -> Int {
    let node = graph.nodes[index]
    func normalized(_ axes: [Int64], rank: Int) throws(ONNXImportFailure) -> Set<Int> {
      var result = Set<Int>()
      for axis in axes {
        guard axis >= -Int64(rank), axis < Int64(rank) else {
          throw fail(index, "axis \(axis) is out of range")
        }
        result.insert(Int(axis < 0 ? axis + Int64(rank) : axis))
      }
      guard result.count == axes.count else { throw fail(index, "repeats an axis") }
      return result
    }
    switch node.opType {
    case "Identity": return rank
    case "Transpose":
      let perm = ints(index, "perm") ?? Array((0..<Int64(rank)).reversed())
      guard perm.count == rank, Set(perm) == Set(0..<Int64(rank)) else {
        throw fail(index, "perm \(perm) is not a permutation of \(rank) axes")
      }
      guard perm.last == Int64(rank - 1) else { throw fail(index, "moves the feature axis from last place") }
      return rank
    case "Squeeze":
      guard let axes = try axes(index) else { throw fail(index, "squeezes without naming its axes") }
      let set = try normalized(axes, rank: rank)
      guard !set.contains(rank - 1) else { throw fail(index, "removes the feature axis") }
      return rank - set.count
    case "Unsqueeze":
      guard let axes = try axes(index) else { throw fail(index, "has no axes") }
      let set = try normalized(axes, rank: rank + axes.count)
      guard !set.contains(rank + axes.count - 1) else {
        throw fail(index, "moves the feature axis from last place")
      }
      return rank + set.count
    default: throw fail(index, "is not a layout operator")
    }
  }

  /// The declared rank of a graph input.
  func declaredRank(_ name: String) throws(ONNXImportFailure) -> Int {
    guard let shape = graphInputs[name]?.shape else {
      throw fail("graph input \"\(name)\"", "declares no shape, so its axes are unknown")
    }
    return shape.count
  }

  // MARK: The pattern

  /// The recurrence found in the graph, in the Elman model's terms.
  struct Recurrence {
    var h: Int
    var x: Int
    /// W_h, H×H row-major.
    var recurrent: [Double]
    /// W_x, H×X row-major.
    var input: [Double]
    var bias: [Double]
    var biasDType: DType
    var weightDType: DType
    var f: HiddenActivation
    var source: InputSource
    /// The hidden states for every step, with their rank.
    var states: String
    var statesRank: Int
    /// The final state, if the graph outputs it, with its rank.
    var final: String?
    var finalRank: Int
  }

  mutating func elmanModel() throws -> ElmanModel {
    let rnnNodes = graph.nodes.indices.filter { graph.nodes[$0].opType == "RNN" }
    let scanNodes = graph.nodes.indices.filter { graph.nodes[$0].opType == "Scan" }
    let loopNodes = graph.nodes.indices.filter { graph.nodes[$0].opType == "Loop" }
    if rnnNodes.isEmpty, scanNodes.count == 1, loopNodes.isEmpty {
      return try build(scanRecurrence(scanNodes[0]))
    }
    if rnnNodes.isEmpty, scanNodes.isEmpty, let loop = loopNodes.first {
      guard loopNodes.count == 1 else {
        throw fail(loopNodes[1], "is a second Loop; RNNKit reads one Elman layer")
      }
      return try build(loopRecurrence(loop))
    }
    guard let rnn = rnnNodes.first else {
      // Name the recurrence the graph has instead, if any, else its first node.
      let recurrent: Set<String> = ["LSTM", "GRU", "Scan", "Loop"]
      let first =
        graph.nodes.indices.first { recurrent.contains(graph.nodes[$0].opType) }
        ?? graph.nodes.indices.first { !used.contains($0) }
      throw fail(first.map(describe) ?? "graph", "no RNN node: this is not an Elman RNN graph")
    }
    guard rnnNodes.count == 1 else { throw fail(rnnNodes[1], "is a second RNN node; RNNKit reads one layer") }
    used.insert(rnn)
    let node = graph.nodes[rnn]
    let part = describe(rnn)

    // Attributes.
    if let direction = string(rnn, "direction"), direction != "forward" {
      throw fail(rnn, "direction is \(direction); RNNKit reads forward RNNs only")
    }
    if node.attribute("clip") != nil {
      throw fail(rnn, "clips its pre-activations, which the Elman model does not")
    }
    let layout = int(rnn, "layout") ?? 0
    guard layout == 0 || layout == 1 else { throw fail(rnn, "layout \(layout) is not 0 or 1") }
    let f = try hiddenActivation(rnn)

    // Weights.
    func input(_ position: Int) -> String? {
      position < node.inputs.count && !node.inputs[position].isEmpty ? node.inputs[position] : nil
    }
    guard let xName = input(0), let wName = input(1), let rName = input(2) else {
      throw fail(rnn, "needs inputs X, W and R")
    }
    let w = try floats(wName, part + " W")
    guard w.shape.count == 3, w.shape[0] == 1, w.shape[1] > 0, w.shape[2] > 0 else {
      throw fail(rnn, "W has shape \(w.shape), expected [1, H, input size]")
    }
    let h = w.shape[1]
    let d = w.shape[2]
    if let declared = int(rnn, "hidden_size"), declared != Int64(h) {
      throw fail(rnn, "hidden_size \(declared) does not match W's \(h) rows")
    }
    let r = try floats(rName, part + " R")
    guard r.shape == [1, h, h] else { throw fail(rnn, "R has shape \(r.shape), expected [1, \(h), \(h)]") }
    var bias = [Double](repeating: 0, count: h)
    var biasDType = DType.f32
    if let bName = input(3) {
      let b = try floats(bName, part + " B")
      guard b.shape == [1, 2 * h] else { throw fail(rnn, "B has shape \(b.shape), expected [1, \(2 * h)]") }
      for i in 0..<h { bias[i] = b.values[i] + b.values[h + i] }
      // The stored dtype holds b exactly only when nothing was added to it.
      biasDType = b.values[h...].allSatisfy { $0 == 0 } ? b.dtype : .f32
    }
    if let lengths = input(4) {
      throw fail(rnn, "takes sequence_lens (\"\(lengths)\"); RNNKit runs whole sequences")
    }
    if let initial = input(5) { try markInitialState(initial, rnn) }

    // The input: dense, gathered rows of a table, or one-hot.
    let source = try inputSource(xName, rnn)
    var wx: [Double]
    let x: Int
    switch source {
    case .dense, .oneHot:
      x = d
      wx = w.values
    case .table(let table, let rows):
      x = rows
      wx = try fold(w.values, h: h, d: d, table: table, rows: rows, part)
    }
    guard let y = node.outputs.first, !y.isEmpty else {
      throw fail(rnn, "does not output Y, the hidden states")
    }
    return try build(
      Recurrence(
        h: h, x: x, recurrent: r.values, input: wx, bias: bias, biasDType: biasDType,
        weightDType: source.isExact && w.dtype == r.dtype ? w.dtype : .f32, f: f, source: source, states: y,
        statesRank: 4, final: node.outputs.count > 1 && !node.outputs[1].isEmpty ? node.outputs[1] : nil,
        finalRank: 3))
  }

  /// W_x = W · Eᵀ for W [H, D] and a table E [rows, D]: column v of W_x is W applied to row v of the
  /// table. The result can be far larger than the file (H × tokens from H × D and tokens × D), so
  /// it is capped.
  func fold(_ w: [Double], h: Int, d: Int, table: [Double], rows: Int, _ part: String)
    throws(ONNXImportFailure) -> [Double]
  {
    let (outputs, overflow) = h.multipliedReportingOverflow(by: rows)
    let (work, workOverflow) = outputs.multipliedReportingOverflow(by: d)
    guard !overflow, !workOverflow, outputs <= Self.maxComposedWeights, work <= Self.maxCompositionWork
    else {
      throw fail(part, "W (\(h) × \(d)) times a \(rows)-row table is too large to fold into W_x")
    }
    var wx = [Double](repeating: 0, count: h * rows)
    let isIdentity =
      h == d
      && (0..<h).allSatisfy { row in
        (0..<d).allSatisfy { w[row * d + $0] == (row == $0 ? 1 : 0) }
      }
    for row in 0..<h {
      for token in 0..<rows {
        if isIdentity {
          wx[row * rows + token] = table[token * d + row]
          continue
        }
        var sum = 0.0
        for k in 0..<d { sum += w[row * d + k] * table[token * d + k] }
        wx[row * rows + token] = sum
      }
    }
    return wx
  }

  /// The model from a recurrence: follows its outputs to the head and the graph outputs, checks
  /// that every node took part, and adds what the graph does not say.
  private mutating func build(_ recurrence: Recurrence) throws -> ElmanModel {
    let (h, x, source) = (recurrence.h, recurrence.x, recurrence.source)
    let columns = h + x
    var big = [Float](repeating: 0, count: h * columns)
    for row in 0..<h {
      for k in 0..<h { big[row * columns + k] = Float(recurrence.recurrent[row * h + k]) }
      for k in 0..<x { big[row * columns + h + k] = Float(recurrence.input[row * x + k]) }
    }

    // The outputs: hidden states to the head and to graph outputs, the final state to outputs.
    let head = try outputHead(from: recurrence.states, rank: recurrence.statesRank, hiddenSize: h)
    if let final = recurrence.final { try markLayoutToOutputs(final, rank: recurrence.finalRank) }
    if let unused = graph.nodes.indices.first(where: { !used.contains($0) }) {
      throw fail(
        unused, "does not fit an Elman RNN graph (input, RNN, MatMul or Gemm, Add, Softmax or Sigmoid)")
    }

    // What the graph does not say: vocabulary and tokenizer from metadata_props or the options.
    var metadata: [String: String] = [:]
    for entry in model.metadata { metadata[entry.key] = entry.value }
    var tokens = try options.suppliedVocabulary()
    if tokens == nil, let json = metadata[ONNXFormat.vocabularyKey] {
      guard let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] else {
        throw fail("metadata_props", "\(ONNXFormat.vocabularyKey) is not a JSON array of strings")
      }
      tokens = list
    }
    var kind = InputKind.dense
    switch source {
    case .dense:
      // A dense input with a vocabulary of X tokens is a one-hot input: a token model.
      kind = try InputKind.ofDenseInput(features: x, vocabulary: tokens).kind
    case .oneHot, .table:
      kind = .tokens
      guard tokens != nil else {
        throw ONNXImportFailure(
          part: "metadata_props",
          reason: "has no \(ONNXFormat.vocabularyKey) for this token model of \(x) tokens",
          requestedInput: .vocabulary)
      }
    }
    var tokenizer = TokenizerSettings(unknownToken: nil)
    if let level = metadata[Schema.tokenizerLevel].flatMap(TokenizerSettings.Level.init(rawValue:)) {
      tokenizer.level = level
    }
    if let value = metadata[Schema.tokenizerLowercase] { tokenizer.lowercase = value == "true" }
    if let value = metadata[Schema.tokenizerSplitPunctuation] { tokenizer.splitPunctuation = value == "true" }
    tokenizer.unknownToken =
      metadata[Schema.tokenizerUnknownToken] ?? (tokens?.contains("<unk>") == true ? "<unk>" : nil)
    tokenizer.endOfSequence = metadata[Schema.tokenizerEndOfSequence]

    return try ElmanModel(
      W: Parameter(big, shape: [h, columns], dtype: recurrence.weightDType),
      b: Parameter(recurrence.bias.map(Float.init), shape: [h], dtype: recurrence.biasDType),
      V: Parameter(head.v, shape: [head.o, h], dtype: head.dtype),
      c: Parameter(head.c, shape: [head.o], dtype: head.dtype),
      hiddenActivation: options.hiddenActivation ?? recurrence.f,
      outputActivation: options.outputActivation ?? head.g,
      inputKind: kind, vocabulary: kind == .tokens ? tokens.map(Vocabulary.init) : nil, tokenizer: tokenizer,
      provenance: Provenance(
        name: metadata[Schema.name], description: metadata[Schema.description],
        sourceFormat: metadata[Schema.sourceFormat] ?? formatName,
        converterVersion: metadata[Schema.converterVersion], created: metadata[Schema.created]))
  }

  // MARK: Scan

  /// A `Scan` with one state and one scanned input whose body is one Elman step:
  /// f(MatMul(state, W_hᵀ) + input), where the scanned input is a Gather of W_xᵀ rows or a MatMul
  /// by W_xᵀ, plus b. This is the form RNNKit writes for an f the RNN operator lacks (silu).
  private mutating func scanRecurrence(_ scan: Int) throws(ONNXImportFailure) -> Recurrence {
    used.insert(scan)
    let node = graph.nodes[scan]
    guard int(scan, "num_scan_inputs") == 1, node.inputs.count == 2, node.outputs.count == 2,
      !node.inputs[0].isEmpty, !node.inputs[1].isEmpty
    else { throw fail(scan, "needs one state and one scanned input, with one output each") }
    for name in ["scan_input_directions", "scan_output_directions"]
    where ints(scan, name)?.contains(where: { $0 != 0 }) == true {
      throw fail(scan, "runs backwards; RNNKit reads forward recurrences only")
    }
    for name in ["scan_input_axes", "scan_output_axes"] {
      guard let axes = ints(scan, name) else { continue }
      guard axes.count == 1, axes[0] == 0 || axes[0] == 1 else {
        throw fail(scan, "\(name) \(axes) does not scan over batch or time")
      }
    }
    guard let body = node.attribute("body")?.graphs.first, body.inputs.count == 2, body.outputs.count == 2,
      body.initializers.isEmpty
    else { throw fail(scan, "body must take the state and one step and return the state and one output") }
    var bodyProducer: [String: Int] = [:]
    for (index, step) in body.nodes.enumerated() {
      for output in step.outputs { bodyProducer[output] = index }
    }
    var bodyUsed = Set<Int>()
    func bodyFail(_ index: Int?, _ reason: String) -> ONNXImportFailure {
      guard let index else { return fail(scan, "body " + reason) }
      let step = body.nodes[index]
      let label = step.name.isEmpty ? "" : " \"\(step.name)\""
      return fail(scan, "body node \(index)\(label) (\(step.opType)) " + reason)
    }
    func producing(_ name: String, _ op: String) -> Int? {
      guard let index = bodyProducer[name], body.nodes[index].opType == op else { return nil }
      return index
    }
    let stateIn = body.inputs[0].name
    let stepIn = body.inputs[1].name
    let stateOut = body.outputs[0].name
    if body.outputs[1].name != stateOut {
      guard let copy = producing(body.outputs[1].name, "Identity"), body.nodes[copy].inputs == [stateOut]
      else {
        throw bodyFail(bodyProducer[body.outputs[1].name], "does not output the new state")
      }
      bodyUsed.insert(copy)
    }
    guard let activation = bodyProducer[stateOut] else { throw bodyFail(nil, "computes no new state") }
    bodyUsed.insert(activation)
    let step = body.nodes[activation]
    let f: HiddenActivation
    var z = step.inputs.first ?? ""
    switch step.opType {
    case "Mul":
      guard step.inputs.count == 2,
        let gate = step.inputs.indices.first(where: { i in
          producing(step.inputs[i], "Sigmoid").map { body.nodes[$0].inputs == [step.inputs[1 - i]] } ?? false
        })
      else { throw bodyFail(activation, "is not z · sigmoid(z)") }
      bodyUsed.insert(bodyProducer[step.inputs[gate]]!)
      z = step.inputs[1 - gate]
      f = .silu
    default:
      guard let named = Self.activation(of: step) else {
        throw bodyFail(activation, "is not an activation of the Elman model")
      }
      f = named
    }
    guard let add = producing(z, "Add"), body.nodes[add].inputs.count == 2,
      body.nodes[add].inputs.contains(stepIn),
      let product = body.nodes[add].inputs.first(where: { $0 != stepIn }).flatMap({ producing($0, "MatMul") }
      ),
      body.nodes[product].inputs.count == 2, body.nodes[product].inputs[0] == stateIn
    else { throw bodyFail(bodyProducer[z], "is not state · W_hᵀ + input") }
    bodyUsed.formUnion([add, product])
    if let stray = body.nodes.indices.first(where: { !bodyUsed.contains($0) }) {
      throw bodyFail(stray, "does not fit an Elman step")
    }
    let recurrentT = try floats(body.nodes[product].inputs[1], describe(scan) + " body W_hᵀ")
    guard recurrentT.shape.count == 2, recurrentT.shape[0] == recurrentT.shape[1], recurrentT.shape[0] > 0
    else {
      throw fail(scan, "body W_hᵀ has shape \(recurrentT.shape), expected [H, H]")
    }
    let h = recurrentT.shape[0]
    var recurrent = [Double](repeating: 0, count: h * h)
    for row in 0..<h {
      for column in 0..<h { recurrent[row * h + column] = recurrentT.values[column * h + row] }
    }

    // The scanned input: (Gather of E = W_xᵀ rows, or MatMul by W_xᵀ) + b.
    var current = node.inputs[1]
    var bias = [Double](repeating: 0, count: h)
    var biasDType = recurrentT.dtype
    if let index = producingNode(current, "Add") {
      let inputs = graph.nodes[index].inputs
      guard inputs.count == 2,
        let constant = inputs.first(where: { constants[$0] != nil && producer[$0] == nil })
      else { throw fail(index, "does not add a constant bias to the scanned input") }
      let b = try floats(constant, describe(index) + " bias")
      guard b.values.count == h, b.shape.last == h else {
        throw fail(index, "bias has shape \(b.shape), expected [\(h)]")
      }
      bias = b.values
      biasDType = b.dtype
      used.insert(index)
      current = inputs.first { $0 != constant } ?? ""
    }
    guard let index = producer[current] else {
      throw fail(scan, "scanned input \"\(current)\" is not a projection of a graph input")
    }
    let projection = graph.nodes[index]
    let x: Int
    var input: [Double]
    let source: InputSource
    let weights: (values: [Double], shape: [Int], dtype: DType)
    switch projection.opType {
    case "Gather":
      guard projection.inputs.count == 2, (int(index, "axis") ?? 0) == 0 else {
        throw fail(index, "must gather rows (axis 0) of a table")
      }
      weights = try floats(projection.inputs[0], describe(index) + " table")
      // A token model whose W_x is the table itself: no product to fold, as with one-hot input.
      guard try tokenIndices(projection.inputs[1]) == 2 else {
        throw fail(index, "token indices must be [batch, time]")
      }
      source = .oneHot
    case "MatMul":
      guard projection.inputs.count == 2, let info = graphInputs[projection.inputs[0]],
        constants[projection.inputs[0]] == nil, info.elementType == ONNXDataType.float.rawValue
      else { throw fail(index, "must multiply a float32 graph input by W_xᵀ") }
      guard try declaredRank(projection.inputs[0]) == 3 else {
        throw fail(index, "input must be [batch, time, X]")
      }
      weights = try floats(projection.inputs[1], describe(index) + " W_xᵀ")
      source = .dense
    default: throw fail(index, "feeds the Scan; expected a Gather or a MatMul")
    }
    guard weights.shape.count == 2, weights.shape[1] == h, weights.shape[0] > 0 else {
      throw fail(index, "W_xᵀ has shape \(weights.shape), expected [X, \(h)]")
    }
    used.insert(index)
    x = weights.shape[0]
    input = [Double](repeating: 0, count: h * x)
    for row in 0..<h { for column in 0..<x { input[row * x + column] = weights.values[column * h + row] } }
    try markInitialState(node.inputs[0], scan)
    return Recurrence(
      h: h, x: x, recurrent: recurrent, input: input, bias: bias, biasDType: biasDType,
      weightDType: weights.dtype == recurrentT.dtype ? weights.dtype : .f32, f: f, source: source,
      states: node.outputs[1], statesRank: 3, final: node.outputs[0].isEmpty ? nil : node.outputs[0],
      finalRank: 2)
  }

  /// The hidden activation a one-input activation operator computes, if it is one of the model's.
  static func activation(of node: ONNXNode) -> HiddenActivation? {
    switch node.opType {
    case "Tanh": .tanh
    case "Relu": .relu
    case "Sigmoid": .sigmoid
    case "Softsign": .softsign
    case "Softplus": .softplus
    case "Identity": .identity
    case "Elu" where (node.attribute("alpha")?.f ?? 1) == 1: .elu
    default: nil
    }
  }

  /// The node of type `op` that writes `name`, if that is how `name` is made.
  func producingNode(_ name: String, _ op: String) -> Int? {
    guard let index = producer[name], graph.nodes[index].opType == op else { return nil }
    return index
  }

  private func hiddenActivation(_ rnn: Int) throws(ONNXImportFailure) -> HiddenActivation {
    let node = graph.nodes[rnn]
    guard let names = node.attribute("activations")?.strings, !names.isEmpty else { return .tanh }
    guard names.count == 1 else {
      throw fail(rnn, "lists \(names.count) activations; a forward RNN takes one")
    }
    let name = String(decoding: names[0], as: UTF8.self)
    let alpha = node.attribute("activation_alpha")?.floats.first
    let beta = node.attribute("activation_beta")?.floats.first
    switch name.lowercased() {
    case "tanh": return .tanh
    case "relu": return .relu
    case "sigmoid": return .sigmoid
    case "softsign": return .softsign
    case "softplus": return .softplus
    case "elu" where alpha == nil || alpha == 1: return .elu
    case "affine" where (alpha ?? 1) == 1 && (beta ?? 0) == 0: return .identity
    default:
      let parameters = [alpha.map { "alpha \($0)" }, beta.map { "beta \($0)" }].compactMap { $0 }
      throw fail(
        rnn,
        "activation \(name)\(parameters.isEmpty ? "" : " (" + parameters.joined(separator: ", ") + ")") "
          + "is not one of the Elman model's")
    }
  }

  // MARK: Input side

  enum InputSource {
    case dense
    case oneHot
    /// Rows of an embedding table [rows, D], gathered by token.
    case table([Double], rows: Int)

    var isExact: Bool {
      if case .table = self { return false }
      return true
    }
  }

  /// Follows the RNN's X back through layout operators to a graph input, a Gather or a OneHot.
  private mutating func inputSource(_ name: String, _ rnn: Int) throws(ONNXImportFailure) -> InputSource {
    var path: [Int] = []
    var current = name
    while let index = producer[current],
      Self.layoutOperators.contains(graph.nodes[index].opType)
        || graph.nodes[index].opType == "Cast"
    {
      guard path.count < 64 else { throw fail(index, "is one of too many layout operators in a row") }
      path.append(index)
      current = graph.nodes[index].inputs.first ?? ""
    }
    let source: InputSource
    var rank: Int
    if let index = producer[current] {
      let node = graph.nodes[index]
      switch node.opType {
      case "Gather":
        guard node.inputs.count == 2, (int(index, "axis") ?? 0) == 0 else {
          throw fail(index, "must gather rows (axis 0) of a table")
        }
        let table = try floats(node.inputs[0], describe(index) + " table")
        guard table.shape.count == 2, table.shape[0] > 0 else {
          throw fail(index, "table has shape \(table.shape), expected [tokens, features]")
        }
        rank = try tokenIndices(node.inputs[1]) + 1
        source = .table(table.values, rows: table.shape[0])
        let columns = table.shape[1]
        guard let w = graph.nodes[rnn].inputs.dropFirst().first, let dims = constants[w]?.dims,
          dims.count == 3,
          dims[2] == Int64(columns)
        else { throw fail(index, "table rows have \(columns) features, which the RNN's W does not take") }
      case "OneHot":
        guard node.inputs.count == 3 else { throw fail(index, "needs indices, depth and values") }
        let axis = int(index, "axis") ?? -1
        let depth = try integers(node.inputs[1], describe(index) + " depth")
        let values = try floatsOrIntegers(node.inputs[2], describe(index) + " values")
        guard values == [0, 1] else { throw fail(index, "values \(values) are not [0, 1]") }
        let indicesRank = try tokenIndices(node.inputs[0])
        rank = indicesRank + 1
        guard axis == -1 || axis == Int64(indicesRank) else {
          throw fail(index, "puts the one-hot axis first")
        }
        guard depth.count == 1, let w = graph.nodes[rnn].inputs.dropFirst().first,
          let dims = constants[w]?.dims, dims.count == 3, dims[2] == depth[0]
        else { throw fail(index, "depth \(depth) does not match the RNN's input size") }
        source = .oneHot
      default:
        throw fail(index, "feeds the RNN's input; expected a graph input, a Gather or a OneHot")
      }
      used.insert(index)
    } else if let info = graphInputs[current], constants[current] == nil {
      guard info.elementType == ONNXDataType.float.rawValue else {
        throw fail("graph input \"\(current)\"", "feeds the RNN directly but is not float32")
      }
      rank = try declaredRank(current)
      source = .dense
    } else {
      throw fail(describe(rnn), "input X \"\(current)\" is not a graph input or computed from one")
    }
    for index in path.reversed() {
      if graph.nodes[index].opType == "Cast" {
        guard int(index, "to") == Int64(ONNXDataType.float.rawValue) else {
          throw fail(index, "casts the RNN input to a type other than float32")
        }
      } else {
        rank = try rankAfterLayout(index, rank: rank)
      }
      used.insert(index)
    }
    guard rank == 3 else { throw fail(describe(rnn), "input X has rank \(rank), expected 3") }
    return source
  }

  func floatsOrIntegers(_ name: String, _ part: String) throws(ONNXImportFailure) -> [Double] {
    if let tensor = constants[name],
      ONNXDataType(rawValue: tensor.dataType) == .int64
        || ONNXDataType(rawValue: tensor.dataType) == .int32
    {
      return try integers(name, part).map(Double.init)
    }
    return try floats(name, part).values
  }

  /// Follows token indices back through layout operators and casts to an integer graph input;
  /// returns the rank of the indices.
  mutating func tokenIndices(_ name: String) throws(ONNXImportFailure) -> Int {
    var path: [Int] = []
    var current = name
    while let index = producer[current] {
      let op = graph.nodes[index].opType
      guard Self.layoutOperators.contains(op) || op == "Cast" else {
        throw fail(index, "computes token indices; expected them to come from a graph input")
      }
      guard path.count < 64 else { throw fail(index, "is one of too many layout operators in a row") }
      path.append(index)
      current = graph.nodes[index].inputs.first ?? ""
    }
    guard let info = graphInputs[current], constants[current] == nil else {
      throw fail("token indices \"\(current)\"", "are not a graph input")
    }
    let integerTypes: [Int32] = [2, 3, 4, 5, 6, 7, 12, 13]
    guard let type = info.elementType, integerTypes.contains(type) else {
      throw fail("graph input \"\(current)\"", "holds token indices but is not an integer tensor")
    }
    var rank = try declaredRank(current)
    for index in path.reversed() {
      let node = graph.nodes[index]
      switch node.opType {
      case "Transpose", "Identity", "Cast": break
      case "Squeeze":
        guard let axes = try axes(index) else { throw fail(index, "squeezes without naming its axes") }
        rank -= axes.count
      default:
        guard let axes = try axes(index) else { throw fail(index, "has no axes") }
        rank += axes.count
      }
      guard rank >= 0, rank <= 8 else { throw fail(index, "leaves token indices of rank \(rank)") }
      used.insert(index)
    }
    return rank
  }

  // MARK: Initial state

  /// Accepts an initial state that is zero (a constant, ConstantOfShape, or Expand and friends of a
  /// zero) or that the caller feeds as a graph input: the Elman model starts from zero, and a
  /// runtime may start from a given state.
  mutating func markInitialState(_ name: String, _ rnn: Int) throws(ONNXImportFailure) {
    var current = name
    var steps = 0
    while true {
      steps += 1
      guard steps < 64 else { throw fail(describe(rnn), "initial_h is computed by too many operators") }
      if graphInputs[current] != nil { return }
      if constants[current] != nil && producer[current] == nil {
        let values = try floatsOrIntegers(current, describe(rnn) + " initial_h")
        guard values.allSatisfy({ $0 == 0 }) else {
          throw fail(
            describe(rnn), "initial_h \"\(current)\" is a nonzero constant; the Elman model starts at zero")
        }
        return
      }
      guard let index = producer[current] else {
        throw fail(describe(rnn), "initial_h \"\(current)\" is not defined in the graph")
      }
      let node = graph.nodes[index]
      used.insert(index)
      switch node.opType {
      case "Constant":
        current = node.outputs[0]
        let values = try floatsOrIntegers(current, describe(index))
        guard values.allSatisfy({ $0 == 0 }) else { throw fail(index, "makes a nonzero initial state") }
        return
      case "ConstantOfShape":
        if let value = node.attribute("value")?.t {
          guard Self.zeroCheck(value) else {
            throw fail(index, "fills the initial state with a nonzero value")
          }
        }
        if let shape = node.inputs.first { try markShapeComputation(shape) }
        return
      case "Expand", "Unsqueeze", "Reshape", "Identity", "Cast", "Squeeze", "Tile":
        for extra in node.inputs.dropFirst() where !extra.isEmpty { try markShapeComputation(extra) }
        current = node.inputs.first ?? ""
      default:
        throw fail(index, "computes the initial state; expected zeros or a graph input")
      }
    }
  }

  private static func zeroCheck(_ tensor: ONNXTensor) -> Bool {
    if let raw = tensor.rawData { return raw.allSatisfy { $0 == 0 } }
    return tensor.floatData.allSatisfy { $0 == 0 } && tensor.int64Data.allSatisfy { $0 == 0 }
      && tensor.int32Data.allSatisfy { $0 == 0 } && tensor.doubleData.allSatisfy { $0 == 0 }
  }

  /// Marks the nodes that compute a shape (from graph inputs' shapes and constants) as used.
  mutating func markShapeComputation(_ name: String) throws(ONNXImportFailure) {
    var stack = [name]
    var visited = Set<String>()
    while let current = stack.popLast() {
      guard visited.insert(current).inserted, let index = producer[current] else { continue }
      guard visited.count < 1_024 else { throw fail(index, "is part of too large a shape computation") }
      let node = graph.nodes[index]
      guard Self.shapeOperators.contains(node.opType) else {
        throw fail(index, "computes the initial state's shape but is not a shape operator")
      }
      used.insert(index)
      if node.opType == "Shape" { continue }
      stack += node.inputs.filter { !$0.isEmpty }
    }
  }

  // MARK: Output side

  private struct Head {
    var v: [Float]
    var c: [Float]
    var o: Int
    var g: OutputActivation
    var dtype: DType
  }

  /// Follows Y through layout operators; the branches end in graph outputs or in one head.
  private mutating func outputHead(from y: String, rank: Int, hiddenSize h: Int) throws(ONNXImportFailure)
    -> Head
  {
    var head: Head?
    var queue = [(name: y, rank: rank)]
    var steps = 0
    while let (name, rank) = queue.popLast() {
      for index in consumers[name] ?? [] {
        steps += 1
        guard steps < 256 else { throw fail(index, "is one of too many operators after the RNN") }
        let node = graph.nodes[index]
        if Self.layoutOperators.contains(node.opType) {
          let next = try rankAfterLayout(index, rank: rank)
          used.insert(index)
          queue.append((node.outputs.first ?? "", next))
        } else if node.opType == "Shape" {
          // Reads only the shape; it counts as used when a shape computation reaches it.
          continue
        } else if let next = try rankAfterSelection(index, rank: rank, features: h) {
          used.insert(index)
          queue.append((node.outputs.first ?? "", next))
        } else if node.opType == "MatMul" || node.opType == "Gemm" {
          guard head == nil else { throw fail(index, "is a second output head") }
          guard node.inputs.first == name else {
            throw fail(index, "multiplies the hidden states from the left")
          }
          head = try outputHead(at: index, rank: rank, hiddenSize: h)
        } else {
          throw fail(index, "takes the hidden states; expected a layout operator, MatMul or Gemm")
        }
      }
    }
    guard let head else { throw fail("graph", "has no output head (MatMul or Gemm) after the RNN") }
    return head
  }

  private mutating func outputHead(at index: Int, rank: Int, hiddenSize h: Int) throws(ONNXImportFailure)
    -> Head
  {
    let node = graph.nodes[index]
    used.insert(index)
    guard node.inputs.count >= 2 else { throw fail(index, "needs two inputs") }
    let weight = try floats(node.inputs[1], describe(index) + " weight")
    var transposed = false
    var bias: (values: [Double], dtype: DType)?
    if node.opType == "Gemm" {
      guard rank == 2 else { throw fail(index, "Gemm takes rank-2 hidden states, these have rank \(rank)") }
      guard (int(index, "transA") ?? 0) == 0, (node.attribute("alpha")?.f ?? 1) == 1 else {
        throw fail(index, "transposes or scales the hidden states")
      }
      transposed = (int(index, "transB") ?? 0) == 1
      if node.inputs.count > 2, !node.inputs[2].isEmpty {
        guard (node.attribute("beta")?.f ?? 1) == 1 else { throw fail(index, "scales its bias") }
        let c = try floats(node.inputs[2], describe(index) + " bias")
        bias = (c.values, c.dtype)
      }
    }
    guard weight.shape.count == 2 else {
      throw fail(index, "weight has shape \(weight.shape), expected rank 2")
    }
    let o = transposed ? weight.shape[0] : weight.shape[1]
    guard (transposed ? weight.shape[1] : weight.shape[0]) == h, o > 0 else {
      throw fail(index, "weight has shape \(weight.shape), which does not take \(h) hidden units")
    }
    // V is O×H.
    var v = [Float](repeating: 0, count: o * h)
    for row in 0..<o {
      for column in 0..<h {
        v[row * h + column] = Float(
          transposed ? weight.values[row * h + column] : weight.values[column * o + row])
      }
    }
    var current = node.outputs.first ?? ""
    var reshaped = false
    var next = try skipRestoringReshapes(&current, features: o, reshaped: &reshaped)
    if bias == nil, let add = next, graph.nodes[add].opType == "Add" {
      let inputs = graph.nodes[add].inputs
      guard inputs.count == 2, let other = inputs.first(where: { $0 != current }), inputs.contains(current)
      else {
        throw fail(add, "does not add a bias to the head")
      }
      let c = try floats(other, describe(add) + " bias")
      guard c.values.count == o, c.shape.last == o else {
        throw fail(add, "bias has shape \(c.shape), expected [\(o)]")
      }
      bias = (c.values, c.dtype)
      used.insert(add)
      current = graph.nodes[add].outputs.first ?? ""
      next = try skipRestoringReshapes(&current, features: o, reshaped: &reshaped)
    }
    guard bias == nil || bias!.values.count == o else { throw fail(index, "bias does not have \(o) entries") }
    var g = OutputActivation.identity
    if let activation = next {
      let op = graph.nodes[activation].opType
      switch op {
      case "Softmax":
        let axis = int(activation, "axis") ?? (opset >= 13 ? -1 : 1)
        guard axis == -1 || (!reshaped && axis == Int64(rank - 1)) else {
          throw fail(activation, "normalises over axis \(axis), not the last of \(rank)")
        }
        g = .softmax
      case "Sigmoid": g = .sigmoid
      default: throw fail(activation, "follows the output head; expected Softmax or Sigmoid")
      }
      used.insert(activation)
      current = graph.nodes[activation].outputs.first ?? ""
      if let after = try skipRestoringReshapes(&current, features: o, reshaped: &reshaped) {
        throw fail(after, "follows the output activation; expected the graph output")
      }
    }
    guard graphOutputs.contains(current) else { throw fail(index, "the head's result is not a graph output") }
    return Head(
      v: v, c: (bias?.values ?? [Double](repeating: 0, count: o)).map(Float.init), o: o, g: g,
      dtype: weight.dtype == (bias?.dtype ?? weight.dtype) ? weight.dtype : .f32)
  }

  /// The one node that reads `name`, nil if none; a value read twice is not a chain.
  func soleConsumer(_ name: String) throws(ONNXImportFailure) -> Int? {
    let readers = consumers[name] ?? []
    guard readers.count <= 1 else {
      throw fail(readers[1], "is a second reader of \"\(name)\" in the output head")
    }
    return readers.first
  }

  /// Accepts the final state's route to graph outputs through layout operators.
  private mutating func markLayoutToOutputs(_ name: String, rank: Int) throws(ONNXImportFailure) {
    var queue = [(name: name, rank: rank)]
    var steps = 0
    while let (current, rank) = queue.popLast() {
      for index in consumers[current] ?? [] {
        steps += 1
        guard steps < 256 else { throw fail(index, "is one of too many operators after the RNN") }
        guard Self.layoutOperators.contains(graph.nodes[index].opType) else {
          throw fail(index, "takes the final hidden state; expected a layout operator or a graph output")
        }
        queue.append((graph.nodes[index].outputs.first ?? "", try rankAfterLayout(index, rank: rank)))
        used.insert(index)
      }
    }
  }
}
