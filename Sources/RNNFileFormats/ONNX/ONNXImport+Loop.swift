import RNNFormat
import RNNModel

// The `Loop` form of an Elman layer: what tf2onnx writes for a Keras SimpleRNN (docs/ONNX.md,
// "tf2onnx and Keras SimpleRNN"). The body is one step; the weights come in as loop-carried values
// the body passes through unchanged, as outer-scope constants or as body constants.
extension ONNXImport {
  /// The role a loop-carried value plays in an Elman step.
  private enum CarriedRole {
    case state, counter, stepCount, weight
  }

  /// A term of the pre-activation sum: a product left · right (right transposed for a Gemm with
  /// transB), or a plain value.
  private struct Term {
    var value: String
    var left: String?
    var right: String?
    var transposed = false
    var node: Int?
    /// The Identity nodes between the sum and a MatMul.
    var path: [Int] = []
  }

  /// A body name with the `Identity` (and, where asked, `Cast`) nodes that lead to it.
  private struct Resolved {
    var name: String
    var path: [Int]
  }

  /// Reads a `Loop` whose body is one Elman step: x_t = Gather(sequence, t), then
  /// f(MatMul(x_t, K) + MatMul(h, R) + b) (or Gemms that fuse a product with the rest of the sum),
  /// where the loop runs exactly T times and T is the length of the sequence's time axis (computed
  /// from its shape, or a constant the graph input declares). W_x = Kᵀ (folded with the embedding
  /// table for token input), W_h = Rᵀ.
  mutating func loopRecurrence(_ loop: Int) throws(ONNXImportFailure) -> Recurrence {
    used.insert(loop)
    let node = graph.nodes[loop]
    guard let body = node.attribute("body")?.graphs.first else { throw fail(loop, "has no body graph") }
    guard node.inputs.count >= 2 else {
      throw fail(loop, "needs a trip count, a condition and loop-carried values")
    }
    let carried = node.inputs.count - 2
    guard body.inputs.count == carried + 2, body.outputs.count > carried else {
      throw fail(
        loop,
        "body takes \(body.inputs.count) inputs and returns \(body.outputs.count) outputs for \(carried) "
          + "loop-carried values")
    }
    let scanned = body.outputs.count - 1 - carried
    guard node.outputs.count <= carried + scanned else {
      throw fail(loop, "has more outputs than its body returns")
    }

    // The body's names.
    var bodyProducer: [String: Int] = [:]
    var bodyConstants: [String: ONNXTensor] = [:]
    var bodyUsed = Set<Int>()
    func bodyFail(_ index: Int?, _ reason: String) -> ONNXImportFailure {
      guard let index else { return fail(loop, "body " + reason) }
      let step = body.nodes[index]
      let label = step.name.isEmpty ? "" : " \"\(step.name)\""
      return fail(loop, "body node \(index)\(label) (\(step.opType)) " + reason)
    }
    for tensor in body.initializers { bodyConstants[tensor.name] = tensor }
    for (index, step) in body.nodes.enumerated() {
      guard step.domain.isEmpty || step.domain == "ai.onnx" else {
        throw bodyFail(index, "is in domain \"\(step.domain)\", not the default ONNX domain")
      }
      for output in step.outputs where !output.isEmpty {
        guard bodyProducer[output] == nil, bodyConstants[output] == nil else {
          throw bodyFail(index, "writes \"\(output)\", which another node or initializer already defines")
        }
        bodyProducer[output] = index
      }
      if step.opType == "Constant", let value = Self.constantValue(step) {
        bodyConstants[step.outputs.first ?? ""] = value
        bodyUsed.insert(index)
      }
    }
    let iterationIn = body.inputs[0].name
    let stateIns = (0..<carried).map { body.inputs[2 + $0].name }
    let stateOuts = (0..<carried).map { body.outputs[1 + $0].name }
    let scanOuts = (0..<scanned).map { body.outputs[1 + carried + $0].name }
    var roles = [CarriedRole?](repeating: nil, count: carried)

    /// Follows `name` back through Identity (and Cast, when asked) nodes of the body.
    func resolve(_ name: String, casts: Bool = false) -> Resolved {
      var result = Resolved(name: name, path: [])
      while let index = bodyProducer[result.name], result.path.count < 64 {
        let step = body.nodes[index]
        guard
          step.opType == "Identity"
            || (casts && step.opType == "Cast" && Self.exactCasts.contains(step.attribute("to")?.i ?? 0)),
          step.inputs.count >= 1
        else { break }
        result.path.append(index)
        result.name = step.inputs[0]
      }
      return result
    }
    func producing(_ name: String, _ op: String) -> Int? {
      guard let index = bodyProducer[name], body.nodes[index].opType == op else { return nil }
      return index
    }
    func isPassthrough(_ slot: Int) -> Bool { resolve(stateOuts[slot]).name == stateIns[slot] }

    /// A constant the body reads: its own, an outer-scope one, or a loop-carried one it passes on.
    func weight(_ name: String, _ what: String) throws(ONNXImportFailure) -> ONNXTensor {
      let resolved = resolve(name)
      bodyUsed.formUnion(resolved.path)
      if let tensor = bodyConstants[resolved.name] { return tensor }
      if let slot = stateIns.firstIndex(of: resolved.name) {
        guard isPassthrough(slot), roles[slot] == nil || roles[slot] == .weight,
          let tensor = constants[node.inputs[2 + slot]]
        else {
          throw fail(
            loop,
            "\(what) \"\(resolved.name)\" is a loop-carried value that is not a constant passed on unchanged")
        }
        roles[slot] = .weight
        bodyUsed.formUnion(resolve(stateOuts[slot]).path)
        return tensor
      }
      guard bodyProducer[resolved.name] == nil, resolved.name != iterationIn,
        !body.inputs.contains(where: { $0.name == resolved.name }), let tensor = constants[resolved.name]
      else { throw fail(loop, "\(what) \"\(resolved.name)\" is not a constant") }
      return tensor
    }

    /// The terms of a sum of up to four values: products (of MatMul, or of a Gemm whose C is the
    /// rest of the sum) and plain values, with the Add and Gemm nodes that form them.
    func terms(of z: String) -> (terms: [Term], nodes: [Int]) {
      var terms: [Term] = []
      var nodes: [Int] = []
      var pending = [z]
      while let name = pending.popLast() {
        let resolved = resolve(name)
        let index = bodyProducer[resolved.name]
        let step = index.map { body.nodes[$0] }
        if let index, let step, terms.count + pending.count < 4 {
          if step.opType == "Add", step.inputs.count == 2 {
            nodes.append(index)
            nodes += resolved.path
            pending += step.inputs
            continue
          }
          if step.opType == "Gemm", step.inputs.count == 2 || step.inputs.count == 3,
            (step.attribute("alpha")?.f ?? 1) == 1, (step.attribute("beta")?.f ?? 1) == 1,
            (step.attribute("transA")?.i ?? 0) == 0
          {
            nodes.append(index)
            nodes += resolved.path
            terms.append(
              Term(
                value: resolved.name, left: step.inputs[0], right: step.inputs[1],
                transposed: (step.attribute("transB")?.i ?? 0) != 0, node: index))
            if step.inputs.count == 3, !step.inputs[2].isEmpty { pending.append(step.inputs[2]) }
            continue
          }
        }
        if let index, let step, step.opType == "MatMul", step.inputs.count == 2 {
          terms.append(
            Term(
              value: resolved.name, left: step.inputs[0], right: step.inputs[1], transposed: false,
              node: index,
              path: resolved.path))
        } else {
          terms.append(Term(value: name))
        }
      }
      return (terms, nodes)
    }
    func multipliesState(_ term: Term, _ slot: Int) -> Bool {
      guard let left = term.left else { return false }
      return resolve(left).name == stateIns[slot]
    }

    // The state: the one carried value whose new value is f(… + MatMul(state, R) + …).
    var found: (slot: Int, f: HiddenActivation, z: String, activation: [Int], newState: Resolved)?
    for slot in 0..<carried where !isPassthrough(slot) {
      let newState = resolve(stateOuts[slot])
      guard let index = bodyProducer[newState.name] else { continue }
      let step = body.nodes[index]
      var f: HiddenActivation
      var z = step.inputs.first ?? ""
      var activation = [index]
      if step.opType == "Add" || step.opType == "Gemm" {
        (f, z, activation) = (.identity, newState.name, [])
      } else if step.opType == "Mul", step.inputs.count == 2,
        let gate = step.inputs.indices.first(where: { i in
          producing(step.inputs[i], "Sigmoid").map { body.nodes[$0].inputs == [step.inputs[1 - i]] } ?? false
        })
      {
        activation.append(bodyProducer[step.inputs[gate]]!)
        z = step.inputs[1 - gate]
        f = .silu
      } else if let named = Self.activation(of: step), step.inputs.count == 1 {
        f = named
      } else {
        continue
      }
      guard terms(of: z).terms.contains(where: { multipliesState($0, slot) }) else { continue }
      guard found == nil else {
        throw bodyFail(index, "computes a second state; RNNKit reads one Elman layer")
      }
      found = (slot, f, z, activation, newState)
    }
    guard let state = found else {
      throw fail(loop, "body computes no new state of the form f(MatMul(x_t, K) + MatMul(h, R) + b)")
    }
    roles[state.slot] = .state
    bodyUsed.formUnion(state.activation)
    bodyUsed.formUnion(state.newState.path)

    // z = MatMul(x_t, K) + MatMul(h, R) + b, added in any order.
    let sum = terms(of: state.z)
    bodyUsed.formUnion(sum.nodes)
    var recurrent: (name: String, transposed: Bool)?
    var kernel: (name: String, transposed: Bool)?
    var biasName: String?
    var gather: Int?
    for term in sum.terms {
      if let leftName = term.left, let rightName = term.right, let product = term.node {
        let left = resolve(leftName)
        if left.name == stateIns[state.slot], recurrent == nil {
          recurrent = (rightName, term.transposed)
        } else if let step = producing(left.name, "Gather"), kernel == nil {
          kernel = (rightName, term.transposed)
          gather = step
        } else {
          throw bodyFail(product, "multiplies neither the state nor this step's input")
        }
        bodyUsed.insert(product)
        bodyUsed.formUnion(left.path)
        bodyUsed.formUnion(term.path)
      } else if biasName == nil {
        biasName = term.value
      } else {
        throw bodyFail(bodyProducer[resolve(term.value).name], "is a fourth term of the pre-activation")
      }
    }
    guard let recurrent, let kernel, let gather else {
      throw bodyFail(bodyProducer[state.z], "is not MatMul(x_t, K) + MatMul(h, R) + b")
    }

    // x_t = Gather(sequence, t) along the first (time) axis, with t a counter from 0 by 1.
    let read = body.nodes[gather]
    guard read.inputs.count == 2, (read.attribute("axis")?.i ?? 0) == 0 else {
      throw bodyFail(gather, "must take one step (axis 0) of the sequence")
    }
    bodyUsed.insert(gather)
    let sequence = read.inputs[0]
    guard bodyProducer[sequence] == nil, bodyConstants[sequence] == nil,
      !body.inputs.contains(where: { $0.name == sequence })
    else { throw bodyFail(gather, "must read the input sequence from outside the loop") }
    let index = resolve(read.inputs[1], casts: true)
    bodyUsed.formUnion(index.path)
    guard let counter = stateIns.firstIndex(of: index.name), roles[counter] == nil else {
      throw bodyFail(gather, "must index the sequence with a loop-carried step counter")
    }
    roles[counter] = .counter
    let next = resolve(stateOuts[counter])
    guard let increment = producing(next.name, "Add"), body.nodes[increment].inputs.count == 2,
      let own = body.nodes[increment].inputs.firstIndex(where: { resolve($0).name == stateIns[counter] })
    else { throw fail(loop, "body does not add 1 to the step counter \"\(stateIns[counter])\"") }
    bodyUsed.insert(increment)
    bodyUsed.formUnion(next.path)
    bodyUsed.formUnion(resolve(body.nodes[increment].inputs[own]).path)
    let step = try weight(body.nodes[increment].inputs[1 - own], "step counter increment")
    guard try integers(step, describe(loop) + " counter increment") == [1] else {
      throw bodyFail(increment, "must add 1 to the step counter")
    }
    guard try floatsOrIntegers(node.inputs[2 + counter], describe(loop) + " counter start") == [0] else {
      throw fail(loop, "starts the step counter at \"\(node.inputs[2 + counter])\", not at 0")
    }

    // The condition: Less(counter + 1, T), or an And of it and Less(iteration, T), with T passed on
    // unchanged or read from outside the loop. It may not end the loop before T steps.
    var conditions: [String] = []
    var pendingConditions = [body.outputs[0].name]
    while let name = pendingConditions.popLast() {
      let resolved = resolve(name)
      bodyUsed.formUnion(resolved.path)
      if let and = producing(resolved.name, "And"), body.nodes[and].inputs.count == 2,
        conditions.count + pendingConditions.count < 4
      {
        bodyUsed.insert(and)
        pendingConditions += body.nodes[and].inputs
      } else {
        conditions.append(resolved.name)
      }
    }
    var bounds: [String] = []
    var endsAtLastStep = false
    for condition in conditions {
      guard let less = producing(condition, "Less"), body.nodes[less].inputs.count == 2 else {
        throw bodyFail(bodyProducer[condition], "must end the loop with Less(counter + 1, step count)")
      }
      bodyUsed.insert(less)
      let left = resolve(body.nodes[less].inputs[0], casts: true)
      let right = resolve(body.nodes[less].inputs[1], casts: true)
      if let slot = stateIns.firstIndex(of: right.name), isPassthrough(slot),
        roles[slot] == nil || roles[slot] == .stepCount
      {
        roles[slot] = .stepCount
        bodyUsed.formUnion(resolve(stateOuts[slot]).path)
        bounds.append(node.inputs[2 + slot])
      } else if bodyProducer[right.name] == nil, bodyConstants[right.name] == nil,
        !body.inputs.contains(where: { $0.name == right.name })
      {
        bounds.append(right.name)
      } else {
        throw bodyFail(less, "must compare with a step count passed on unchanged or read from outside")
      }
      if left.name == next.name {
        endsAtLastStep = true
      } else if left.name != iterationIn {
        throw bodyFail(less, "must compare counter + 1 or the iteration number with the step count")
      }
      bodyUsed.formUnion(left.path)
      bodyUsed.formUnion(right.path)
    }

    // The weights.
    let part = describe(loop)
    // Keras' layout is K [D, H] and R [H, H]; a Gemm with transB holds them transposed.
    let kernelValues = try floats(try weight(kernel.name, "kernel"), part + " kernel")
    let recurrentValues = try floats(
      try weight(recurrent.name, "recurrent kernel"), part + " recurrent kernel")
    guard recurrentValues.shape.count == 2, recurrentValues.shape[0] == recurrentValues.shape[1],
      recurrentValues.shape[0] > 0
    else {
      throw fail(loop, "recurrent kernel has shape \(recurrentValues.shape), expected [H, H]")
    }
    let h = recurrentValues.shape[0]
    guard kernelValues.shape.count == 2, kernelValues.shape[kernel.transposed ? 0 : 1] == h,
      kernelValues.shape[kernel.transposed ? 1 : 0] > 0
    else {
      throw fail(
        loop,
        "kernel has shape \(kernelValues.shape), expected \(kernel.transposed ? "[\(h), input size]" : "[input size, \(h)]")"
      )
    }
    let d = kernelValues.shape[kernel.transposed ? 1 : 0]
    // Both as the model holds them: W_h [H, H] and the input weights [H, D].
    var recurrentRows = [Double](repeating: 0, count: h * h)
    var kernelRows = [Double](repeating: 0, count: h * d)
    for row in 0..<h {
      for column in 0..<h {
        recurrentRows[row * h + column] =
          recurrent.transposed
          ? recurrentValues.values[row * h + column] : recurrentValues.values[column * h + row]
      }
      for column in 0..<d {
        kernelRows[row * d + column] =
          kernel.transposed ? kernelValues.values[row * d + column] : kernelValues.values[column * h + row]
      }
    }
    let recurrentDType = recurrentValues.dtype
    var bias = [Double](repeating: 0, count: h)
    var biasDType = recurrentDType
    if let biasName {
      let b = try floats(try weight(biasName, "bias"), part + " bias")
      guard b.values.count == h, b.shape.last == h else {
        throw fail(loop, "bias has shape \(b.shape), expected [\(h)]")
      }
      (bias, biasDType) = (b.values, b.dtype)
    }
    for slot in 0..<carried where roles[slot] == nil {
      throw fail(
        loop,
        "loop-carried value \(slot) (\"\(stateIns[slot])\") is not the state, the step counter, the step "
          + "count or a weight")
    }
    guard
      let scanSlot = scanOuts.indices.first(where: { resolve(scanOuts[$0]).name == state.newState.name }),
      carried + scanSlot < node.outputs.count, !node.outputs[carried + scanSlot].isEmpty
    else { throw fail(loop, "does not output the state of every step") }
    bodyUsed.formUnion(resolve(scanOuts[scanSlot]).path)
    if let stray = body.nodes.indices.first(where: { !bodyUsed.contains($0) }) {
      throw bodyFail(stray, "does not fit an Elman step")
    }

    // Outside: the sequence is the (transposed) input, T its length, the state starts at zero.
    var source = sequence
    var batchMajor: String?
    if let transpose = producingNode(sequence, "Transpose") {
      guard ints(transpose, "perm") == [1, 0, 2] else {
        throw fail(transpose, "must swap batch and time (perm [1, 0, 2]) before the loop")
      }
      used.insert(transpose)
      source = graph.nodes[transpose].inputs.first ?? ""
      batchMajor = source
    }
    let input: InputSource
    // The graph input whose axis is time, for a step count that is a constant.
    var timeAxis: (input: String, axis: Int)?
    var wx = [Double](repeating: 0, count: h * d)
    var x = d
    if let table = producingNode(source, "Gather") {
      let lookup = graph.nodes[table]
      guard lookup.inputs.count == 2, (int(table, "axis") ?? 0) == 0 else {
        throw fail(table, "must gather rows (axis 0) of a table")
      }
      let rows = try floats(lookup.inputs[0], describe(table) + " table")
      guard rows.shape.count == 2, rows.shape[0] > 0, rows.shape[1] == d else {
        throw fail(table, "table has shape \(rows.shape), expected [tokens, \(d)]")
      }
      if graphInputs[lookup.inputs[1]] != nil { timeAxis = (lookup.inputs[1], batchMajor == nil ? 0 : 1) }
      guard try tokenIndices(lookup.inputs[1]) == 2 else {
        throw fail(table, "token indices must be [batch, time]")
      }
      used.insert(table)
      x = rows.shape[0]
      wx = try fold(kernelRows, h: h, d: d, table: rows.values, rows: x, part)
      input = .table(rows.values, rows: x)
    } else if let info = graphInputs[source], constants[source] == nil, producer[source] == nil {
      guard info.elementType == ONNXDataType.float.rawValue, try declaredRank(source) == 3 else {
        throw fail("graph input \"\(source)\"", "feeds the loop but is not a float32 tensor of rank 3")
      }
      wx = kernelRows
      input = .dense
      timeAxis = (source, batchMajor == nil ? 0 : 1)
    } else {
      throw fail(
        producer[source].map(describe) ?? part,
        "feeds the loop's sequence; expected a graph input or a Gather from a table")
    }
    var stepCounts = Set<String>()
    for bound in bounds { stepCounts.insert(throughCasts(bound)) }
    guard stepCounts.count == 1, let steps = stepCounts.first else {
      throw fail(loop, "compares its steps with more than one step count")
    }
    if !node.inputs[0].isEmpty {
      guard throughCasts(node.inputs[0]) == steps else {
        throw fail(loop, "trip count M \"\(node.inputs[0])\" is not the step count \"\(steps)\"")
      }
      endsAtLastStep = true
    }
    guard endsAtLastStep else {
      throw fail(loop, "may run past the last step: neither M nor Less(counter + 1, step count) ends it")
    }
    try markStepCount(steps, sequence: sequence, batchMajor: batchMajor, timeAxis: timeAxis, loop: loop)
    try markStartCondition(node.inputs[1], steps: steps, loop: loop)
    try markInitialState(node.inputs[2 + state.slot], loop)

    // The outputs: every step's state (a scan output), the final state, nothing else read.
    let states = node.outputs[carried + scanSlot]
    let final =
      state.slot < node.outputs.count && !node.outputs[state.slot].isEmpty ? node.outputs[state.slot] : nil
    for (position, output) in node.outputs.enumerated()
    where !output.isEmpty && output != states && output != final
      && (consumers[output] != nil || graphOutputs.contains(output))
    {
      throw fail(loop, "output \(position) (\"\(output)\") is read, but it is not a state")
    }
    return Recurrence(
      h: h, x: x, recurrent: recurrentRows, input: wx, bias: bias, biasDType: biasDType,
      weightDType: input.isExact && kernelValues.dtype == recurrentDType ? recurrentDType : .f32, f: state.f,
      source: input, states: states, statesRank: 3, final: final, finalRank: 2)
  }

  /// The types a step count or counter may be cast to without changing its value: float32 (exact
  /// to 2²⁴ steps), int32, int64, float64. A narrower type could end the loop at another step.
  private static let exactCasts: Set<Int64> = [1, 6, 7, 11]

  /// Follows `name` back through Identity nodes and value-keeping Casts of the main graph, marking
  /// them used.
  private mutating func throughCasts(_ name: String) -> String {
    var current = name
    var steps = 0
    while let index = producer[current], steps < 64,
      graph.nodes[index].opType == "Identity"
        || (graph.nodes[index].opType == "Cast" && Self.exactCasts.contains(int(index, "to") ?? 0))
    {
      used.insert(index)
      current = graph.nodes[index].inputs.first ?? ""
      steps += 1
    }
    return current
  }

  /// Accepts `name` as the number of steps: element 0 of Shape(sequence), or element 1 of the
  /// shape of the batch-major tensor the sequence transposes, through Slice or Gather, Squeeze,
  /// Unsqueeze, Reshape and Cast.
  private mutating func markStepCount(
    _ name: String, sequence: String, batchMajor: String?, timeAxis: (input: String, axis: Int)?, loop: Int
  ) throws(ONNXImportFailure) {
    let wrong = fail(describe(loop), "step count \"\(name)\" is not the length of the input's time axis")
    if constants[name] != nil {
      // A fixed length (Keras Input((T, X))): the graph input must declare that time axis.
      let length = try integers(name, describe(loop) + " step count")
      guard length.count == 1, let timeAxis, let shape = graphInputs[timeAxis.input]?.shape,
        timeAxis.axis < shape.count, shape[timeAxis.axis] == .value(length[0])
      else { throw wrong }
      return
    }
    var current = name
    var steps = 0
    while let index = producer[current],
      ["Identity", "Squeeze", "Unsqueeze", "Reshape"].contains(graph.nodes[index].opType)
        || (graph.nodes[index].opType == "Cast" && Self.exactCasts.contains(int(index, "to") ?? 0)),
      steps < 64
    {
      used.insert(index)
      for extra in graph.nodes[index].inputs.dropFirst() where !extra.isEmpty {
        try markShapeComputation(extra)
      }
      current = graph.nodes[index].inputs.first ?? ""
      steps += 1
    }
    guard let pick = producer[current], graph.nodes[pick].inputs.count >= 2 else { throw wrong }
    let node = graph.nodes[pick]
    let element: Int64
    switch node.opType {
    case "Slice":
      guard node.inputs.count >= 3, (try optionalIntegers(pick, 4, "steps")) ?? [1] == [1],
        (try optionalIntegers(pick, 3, "axes")) ?? [0] == [0],
        let starts = try optionalIntegers(pick, 1, "starts"), starts.count == 1,
        try optionalIntegers(pick, 2, "ends") == [starts[0] + 1]
      else { throw wrong }
      element = starts[0]
    case "Gather":
      guard (int(pick, "axis") ?? 0) == 0,
        let value = try integers(node.inputs[1], describe(pick) + " index").first,
        try integers(node.inputs[1], describe(pick) + " index").count == 1
      else { throw wrong }
      element = value
    default: throw wrong
    }
    used.insert(pick)
    let shaped = throughCasts(node.inputs[0])
    guard let shape = producingNode(shaped, "Shape"), graph.nodes[shape].attributes.isEmpty else {
      throw wrong
    }
    used.insert(shape)
    let measured = graph.nodes[shape].inputs.first ?? ""
    guard (measured == sequence && element == 0) || (measured == batchMajor && element == 1) else {
      throw wrong
    }
  }

  /// Accepts the loop's first condition: a true constant, or Less(0, step count).
  private mutating func markStartCondition(_ name: String, steps: String, loop: Int, depth: Int = 0)
    throws(ONNXImportFailure)
  {
    let wrong = fail(describe(loop), "its first condition \"\(name)\" is not 0 < step count")
    if let tensor = constants[name], producer[name] == nil {
      // A true constant: bool (data type 9) holds one byte, in raw_data or int32_data.
      guard tensor.dataType == 9, tensor.rawData == [1] || tensor.int32Data == [1] else { throw wrong }
      return
    }
    if let and = producingNode(name, "And"), graph.nodes[and].inputs.count == 2, depth < 4 {
      used.insert(and)
      for input in Set(graph.nodes[and].inputs) {
        try markStartCondition(input, steps: steps, loop: loop, depth: depth + 1)
      }
      return
    }
    guard let less = producingNode(name, "Less"), graph.nodes[less].inputs.count == 2 else { throw wrong }
    used.insert(less)
    let zero = throughCasts(graph.nodes[less].inputs[0])
    let bound = throughCasts(graph.nodes[less].inputs[1])
    guard constants[zero] != nil, try floatsOrIntegers(zero, describe(less) + " start") == [0] else {
      throw wrong
    }
    if bound == steps { return }
    // A fixed length, folded into a constant of another type.
    guard constants[bound] != nil, constants[steps] != nil,
      try floatsOrIntegers(bound, describe(less) + " bound") == (try floatsOrIntegers(steps, describe(loop)))
    else { throw wrong }
  }

  /// The integer constant a node takes at `position`, nil when the input is absent.
  private func optionalIntegers(_ index: Int, _ position: Int, _ what: String) throws(ONNXImportFailure)
    -> [Int64]?
  {
    let inputs = graph.nodes[index].inputs
    guard position < inputs.count, !inputs[position].isEmpty else { return nil }
    return try integers(inputs[position], describe(index) + " " + what)
  }

  /// The rank after a node that keeps whole feature vectors: the last step (Slice [-1:] or
  /// Gather −1 along an axis other than the features) or a Reshape to rows of `features`; nil when
  /// the node is none of these operators.
  func rankAfterSelection(_ index: Int, rank: Int, features: Int) throws(ONNXImportFailure) -> Int? {
    let node = graph.nodes[index]
    func axis(_ value: Int64) throws(ONNXImportFailure) -> Int64 {
      guard value >= -Int64(rank), value < Int64(rank) else {
        throw fail(index, "axis \(value) is out of range")
      }
      let normalized = value < 0 ? value + Int64(rank) : value
      guard normalized != Int64(rank - 1) else { throw fail(index, "selects along the feature axis") }
      return normalized
    }
    switch node.opType {
    case "Slice":
      guard node.inputs.count >= 3, try optionalIntegers(index, 1, "starts") == [-1],
        let end = try optionalIntegers(index, 2, "ends")?.first, end >= Int64(Int32.max),
        (try optionalIntegers(index, 4, "steps")) ?? [1] == [1]
      else { throw fail(index, "must take the last step ([-1:]) of the states") }
      if node.inputs.count >= 4, !node.inputs[3].isEmpty {
        let axes = try integers(node.inputs[3], describe(index) + " axes")
        guard axes.count == 1 else { throw fail(index, "must slice one axis") }
        _ = try axis(axes[0])
      } else {
        _ = try axis(0)
      }
      return rank
    case "Gather":
      guard node.inputs.count == 2, let tensor = constants[node.inputs[1]],
        try integers(node.inputs[1], describe(index) + " index") == [-1]
      else { throw fail(index, "must take the last step (index -1) of the states") }
      _ = try axis(int(index, "axis") ?? 0)
      return tensor.dims.isEmpty ? rank - 1 : rank
    case "Reshape":
      guard node.inputs.count == 2, constants[node.inputs[1]] != nil else {
        throw fail(index, "reshapes the states to a shape that is not a constant")
      }
      let shape = try integers(node.inputs[1], describe(index) + " shape")
      guard shape.count >= 2, shape.count <= 8, shape.last == Int64(features), shape.allSatisfy({ $0 != 0 }),
        shape.filter({ $0 == -1 }).count <= 1
      else { throw fail(index, "must keep rows of \(features) features, not make \(shape)") }
      return shape.count
    default: return nil
    }
  }

  /// Skips Reshapes after the head that keep rows of `features` outputs (a constant shape, or a
  /// computed one whose last part is the constant `features`); returns the next node.
  mutating func skipRestoringReshapes(_ current: inout String, features: Int, reshaped: inout Bool)
    throws(ONNXImportFailure) -> Int?
  {
    var steps = 0
    while let next = try soleConsumer(current), graph.nodes[next].opType == "Reshape",
      graph.nodes[next].inputs.count == 2, graph.nodes[next].inputs[0] == current
    {
      steps += 1
      guard steps < 16 else { throw fail(next, "is one of too many Reshapes in a row") }
      let shapeName = graph.nodes[next].inputs[1]
      var last: String = shapeName
      if constants[shapeName] == nil {
        let concatenated = throughCasts(shapeName)
        guard let concat = producingNode(concatenated, "Concat"), let piece = graph.nodes[concat].inputs.last
        else {
          throw fail(next, "reshapes the output to a shape RNNKit cannot follow")
        }
        last = throughCasts(piece)
      }
      guard constants[last] != nil, try integers(last, describe(next) + " shape").last == Int64(features)
      else {
        throw fail(next, "must keep rows of \(features) outputs")
      }
      try markShapeComputation(shapeName)
      used.insert(next)
      reshaped = true
      current = graph.nodes[next].outputs.first ?? ""
    }
    return try soleConsumer(current)
  }
}
