import RNNFormat
import RNNModel

/// All h_t and y_t of one sequence.
public struct ForwardResult: Sendable, Equatable {
  /// h_1 … h_T, each of the hidden size H.
  public var hidden: [[Float]]
  /// y_1 … y_T, each of the output size O, after the output activation g.
  public var outputs: [[Float]]

  /// A result of h_t and y_t for each step.
  public init(hidden: [[Float]], outputs: [[Float]]) {
    self.hidden = hidden
    self.outputs = outputs
  }
}

/// An Elman model with its weights arranged for fast inference.
///
/// Preparing copies W's recurrent block W_h (H×H) out of W. W_x is left in place: a token's input
/// is column j of W_x (a one-hot input times W_x is a column lookup, not a product), gathered into a
/// contiguous row the first time the token is seen, with b folded in (``InputColumns``); dense
/// models and requests that need many columns transpose W_x whole. V stays where it is: an f32 V
/// inside a mapped `.rnn` file is used in place, and an f16 V is converted block by block while it
/// is read, never expanded in memory; an int8 V (with row scales) is read as int8 by integer
/// products, and a bf16 V by bfloat16 kernels. f64 V is converted to f32 once. The first product
/// of many rows (scoring, batched forward passes) also copies an f32 V, once, into the panels of
/// RNNKit's packed matrix product, which the model then keeps (as much memory again as V).
///
/// A model read with ``ReadOptions/verifyOnFirstUse`` has its large tensors verified block by
/// block before their bytes are used: V (all of it, on all cores) and W_h while preparing, each
/// token's column of W_x when it is first gathered. A mismatch is ``RuntimeError/corruptWeights(_:)``.
///
/// The instance is immutable and can be shared between threads; each call allocates its own
/// scratch space. Other matrix products use OpenBLAS (loaded when the first request needs one, see
/// ``OpenBLAS``), whose thread count (`OPENBLAS_NUM_THREADS`) the runtime's own parallel loops
/// follow too.
public final class InferenceModel: Sendable {
  /// The model this was prepared from.
  public let model: ElmanModel
  /// H.
  public let hiddenSize: Int
  /// X: the vocabulary size for token models, the vector size for dense ones.
  public let inputSize: Int
  /// O.
  public let outputSize: Int

  let activation: Int32
  let outputActivation: OutputActivation
  /// W_h, H×H row-major, on a cache line: its rows are read at every step of the recurrence.
  let recurrent: AlignedFloats
  /// W_x's columns as rows, each including b for token models, prepared as requests need them.
  let inputColumns: InputColumns
  let bias: [Float]
  let outputBias: [Float]
  let outputWeights: OutputWeights
  /// The matrix products: OpenBLAS, loaded by ``requireMatrixProducts()`` when the first request
  /// that needs one arrives, not when the model is prepared. A single sequence's steps are
  /// matrix-vector products, so prediction and generation never load it or start its threads.
  var blas: OpenBLAS {
    guard let loaded = try? OpenBLAS.shared() else {
      preconditionFailure("a matrix product ran without requireMatrixProducts()")
    }
    return loaded
  }

  /// Loads OpenBLAS for the matrix products of batches, dense inputs and scoring; every path
  /// that reaches ``blas`` calls this first.
  func requireMatrixProducts() throws(RuntimeError) {
    do {
      _ = try OpenBLAS.shared()
    } catch {
      throw .openBLAS(error)
    }
  }
  /// V in the panels of the packed matrix product, made on first use (f32 V only).
  let packedOutput = PackedOutputWeights()
  /// Whether greedy decoding's product with V runs on one thread or on all, measured on its first
  /// calls (``blockArgmax(scratch:threads:_:)``).
  let argmaxSplit = SplitChoice()

  enum OutputWeights: Sendable {
    /// f32 V inside a mapped file.
    case mapped(TensorView)
    /// f32 V in memory.
    case owned([Float])
    /// f16 V inside a mapped file, converted while it is read.
    case half(TensorView)
    /// int8 V with row scales, read by the int8 products (InferenceModel+Int8.swift).
    case int8(Int8OutputWeights)
    /// bfloat16 V inside a mapped file, read by the bfloat16 kernels (InferenceModel+BFloat16.swift).
    case bfloat(TensorView)
  }

  enum OutputPointer {
    case f32(UnsafePointer<Float>)
    case half(UnsafePointer<UInt16>)
  }

  /// Prepares `model` for inference. Requests that need matrix products (batches, dense inputs,
  /// scoring) fail with ``RuntimeError/openBLAS(_:)`` when OpenBLAS cannot be loaded.
  public init(_ model: ElmanModel) throws(RuntimeError) {
    do {
      try model.validateShapes()
    } catch {
      throw .invalidModel(error.description)
    }
    let h = model.hiddenSize
    let x = model.inputSize
    self.model = model
    hiddenSize = h
    inputSize = x
    outputSize = model.outputSize
    activation = Kernels.code(model.hiddenActivation)
    outputActivation = model.outputActivation

    let b = try Self.floats(of: model.b, "b")
    let c = try Self.floats(of: model.c, "c")
    guard b.count == h, c.count == outputSize else {
      throw .invalidModel("b or c could not be decoded as floats")
    }
    bias = b
    outputBias = c
    let matrix: InputColumns.Matrix
    switch model.W.storage {
    case .view(let view) where view.dtype.known == .f32: matrix = .mapped(view)
    default:
      let values = try Self.floats(of: model.W, "W")
      guard values.count == h * (h + x) else { throw .invalidModel("W could not be decoded as floats") }
      matrix = .owned(values)
    }
    inputColumns = InputColumns(
      matrix: matrix, hiddenSize: h, inputSize: x, bias: model.inputKind == .tokens ? b : [])
    recurrent = AlignedFloats(try inputColumns.recurrentBlock())
    if model.inputKind == .dense { _ = try inputColumns.transposedMatrix() }

    switch model.V.storage {
    case .floats(let values): outputWeights = .owned(values)
    case .quantized(let matrix):
      // Read whole for every output, as a float V is: verified whole before first use.
      do { try matrix.verify() } catch { throw .corruptWeights(error) }
      outputWeights = .int8(Int8OutputWeights(matrix))
    case .view(let view):
      switch view.dtype.known {
      case .f32, .f16, .bf16:
        // Read whole for every output, so verified whole, on all cores, before first use.
        do { try view.verify() } catch { throw .corruptWeights(error) }
        switch view.dtype.known {
        case .f32: outputWeights = .mapped(view)
        case .f16: outputWeights = .half(view)
        default: outputWeights = .bfloat(view)
        }
      default:
        let values = try Self.floats(of: model.V, "V")
        guard values.count == outputSize * h else { throw .invalidModel("V could not be decoded as floats") }
        outputWeights = .owned(values)
      }
    }
  }

  /// A parameter's values as floats; a view that fails its verification on first use is
  /// ``RuntimeError/corruptWeights(_:)``.
  static func floats(of parameter: Parameter, _ name: String) throws(RuntimeError) -> [Float] {
    guard let view = parameter.view else { return parameter.floats() }
    do {
      return try view.floats()
    } catch let error as FormatError {
      throw .corruptWeights(error)
    } catch {
      throw .invalidModel("\(name) could not be decoded as floats: \(error)")
    }
  }

  /// The bytes of one element of V as the products read it.
  var outputElementBytes: Int {
    switch outputWeights {
    case .mapped, .owned: return 4
    case .half, .bfloat: return 2
    case .int8: return 1
    }
  }

  /// Whether V is read as IEEE half and converted on the fly.
  public var outputWeightsAreHalf: Bool {
    if case .half = outputWeights { return true }
    return false
  }

  func withOutputWeights<R>(_ body: (OutputPointer) -> R) -> R {
    switch outputWeights {
    case .owned(let values):
      return values.withUnsafeBufferPointer { body(.f32($0.baseAddress!)) }
    case .mapped(let view):
      return withExtendedLifetime(view.storage) {
        body(.f32(view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: Float.self)))
      }
    case .half(let view):
      return withExtendedLifetime(view.storage) {
        body(.half(view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: UInt16.self)))
      }
    case .int8, .bfloat:
      // logits and argmaxLogits hand int8 and bfloat16 V to their own kernels before they get here.
      preconditionFailure("int8 and bfloat16 V have no float pointer")
    }
  }

  // MARK: checks

  func checkTokens(_ tokens: [Int]) throws(RuntimeError) {
    guard model.inputKind == .tokens else { throw .inputKindMismatch(model: .dense, given: .tokens) }
    guard !tokens.isEmpty else { throw .emptyInput }
    for (position, id) in tokens.enumerated() where id < 0 || id >= inputSize {
      throw .tokenOutOfRange(position: position, id: id, vocabularySize: inputSize)
    }
  }

  func checkVectors(_ vectors: [[Float]]) throws(RuntimeError) {
    guard model.inputKind == .dense else { throw .inputKindMismatch(model: .tokens, given: .dense) }
    guard !vectors.isEmpty else { throw .emptyInput }
    for (position, vector) in vectors.enumerated() where vector.count != inputSize {
      throw .wrongVectorSize(position: position, found: vector.count, expected: inputSize)
    }
  }

  // MARK: the recurrence

  /// Hidden states of several sequences, stored one after another (sequence s at rows
  /// `offsets[s] ..< offsets[s] + lengths[s]`).
  struct HiddenStates {
    var rows: [Float]
    var offsets: [Int]
    var lengths: [Int]
    var totalRows: Int { offsets.last.map { $0 + lengths.last! } ?? 0 }
  }

  /// Fills each row with its input projection W_x·x_t (+ b), then runs the recurrence.
  func hiddenStates(tokens batch: [[Int]]) throws(RuntimeError) -> HiddenStates {
    // No OpenBLAS here: the input rows are copied and the recurrence runs on RNNKit's kernels.
    var states = layout(lengths: batch.map(\.count))
    let h = hiddenSize
    let ids = batch.flatMap { $0 }
    // Sequences are stored one after another, so the k-th token overall goes to row k.
    try states.rows.withUnsafeMutableBufferPointer { (rows) throws(RuntimeError) in
      let base = rows.baseAddress!
      try inputColumns.copyRows(ids) { base + $0 * h }
    }
    try recur(&states)
    return states
  }

  func hiddenStates(vectors batch: [[[Float]]]) throws(RuntimeError) -> HiddenStates {
    try requireMatrixProducts()
    var states = layout(lengths: batch.map(\.count))
    let (h, x) = (hiddenSize, inputSize)
    // One product for every step of every sequence: [x_t] (N×X) · W_xᵀ (X×H).
    var inputs = [Float]()
    inputs.reserveCapacity(states.totalRows * x)
    for sequence in batch { for vector in sequence { inputs += vector } }
    let total = states.totalRows
    let inputRows = try inputColumns.transposedMatrix()
    states.rows.withUnsafeMutableBufferPointer { rows in
      inputs.withUnsafeBufferPointer { inputs in
        inputRows.withUnsafeBufferPointer { w in
          blas.sgemm(
            m: total, n: h, k: x, a: inputs.baseAddress!, lda: x, b: w.baseAddress!, ldb: h, beta: 0,
            c: rows.baseAddress!, ldc: h)
        }
        for r in 0..<total {
          let row = rows.baseAddress! + r * h
          for i in 0..<h { row[i] += bias[i] }
        }
      }
    }
    try recur(&states)
    return states
  }

  func layout(lengths: [Int]) -> HiddenStates {
    var offsets: [Int] = []
    offsets.reserveCapacity(lengths.count)
    var total = 0
    for length in lengths {
      offsets.append(total)
      total += length
    }
    // Every row is written (an input projection) before it is read, so no zero fill; the pages
    // are not touched yet, so they can still become huge pages.
    let rows = [Float](unsafeUninitializedCapacity: total * hiddenSize) { buffer, initialized in
      if let base = buffer.baseAddress {
        System.adviseHugePages(base, byteCount: buffer.count * MemoryLayout<Float>.stride)
      }
      initialized = total * hiddenSize
    }
    return HiddenStates(rows: rows, offsets: offsets, lengths: lengths)
  }

  /// h_t = f(proj_t + W_h·h_{t-1}) in place over rows holding proj_t; h_0 = `initial` or 0.
  func recur(_ states: inout HiddenStates, initial: [Float]? = nil) throws(RuntimeError) {
    let h = hiddenSize
    let lengths = states.lengths
    let offsets = states.offsets
    let single = lengths.count == 1
    var failure: (step: Int, sequence: Int)?
    states.rows.withUnsafeMutableBufferPointer { rows in
      recurrent.withUnsafeBufferPointer { wh in
        let wh = wh.baseAddress!
        let base = rows.baseAddress!
        if single {
          // One sequence: each step is a matrix-vector product on consecutive rows.
          for t in 0..<lengths[0] {
            let row = base + t * h
            if t > 0 {
              // Every other step backwards: each starts on the rows of W_h the last one ended on.
              Kernels.gemv(m: h, n: h, a: wh, lda: h, x: row - h, beta: 1, y: row, reversed: t % 2 == 1)
            } else if let initial {
              initial.withUnsafeBufferPointer {
                Kernels.gemv(m: h, n: h, a: wh, lda: h, x: $0.baseAddress!, beta: 1, y: row)
              }
            }
            Kernels.activate(activation, row, count: h)
            if !Kernels.allFinite(row, count: h) {
              failure = (t, 0)
              return
            }
          }
          return
        }
        // Many sequences: each step is one matrix product over those still running.
        let batch = LongestFirst(lengths)
        let order = batch.order
        let product = PackedRecurrence(recurrent: wh, hidden: h, capacity: order.count)
        defer { product.deallocate() }
        var active = order.count
        for t in 0..<batch.steps {
          active = batch.running(at: t, from: active)
          let rows = (0..<active).map { UnsafeSendable(base + (offsets[order[$0]] + t) * h) }
          if t == 0, let initial {
            initial.withUnsafeBufferPointer { h0 in
              for row in rows {
                Kernels.gemv(m: h, n: h, a: wh, lda: h, x: h0.baseAddress!, beta: 1, y: row.value)
              }
            }
          }
          if let j = product.step(t, count: active, rows: rows, activation: activation) {
            failure = (t, order[j])
            return
          }
        }
      }
    }
    if let failure { throw .nonFiniteHidden(step: failure.step, sequence: single ? nil : failure.sequence) }
  }

  // MARK: outputs

  /// z = H·Vᵀ + c for `rows` consecutive hidden states, written row-major (rows×O) to `out`;
  /// without c when `addBias` is false (scoring adds it while it reads the row anyway).
  func logits(
    hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, addBias: Bool = true
  ) {
    if rows > 1 && packedLogits(hidden: hidden, rows: rows, into: out, addBias: addBias) { return }
    let (h, o) = (hiddenSize, outputSize)
    if case .int8(let v) = outputWeights {
      outputBias.withUnsafeBufferPointer { c in
        int8Logits(v, hidden: hidden, rows: rows, into: out, bias: addBias ? c.baseAddress! : nil)
      }
      return
    }
    if case .bfloat(let view) = outputWeights {
      outputBias.withUnsafeBufferPointer { c in
        bfloat16Logits(view, hidden: hidden, rows: rows, into: out, bias: addBias ? c.baseAddress! : nil)
      }
      return
    }
    outputBias.withUnsafeBufferPointer { c in
      withOutputWeights { weights in
        switch weights {
        case .f32(let v):
          if rows == 1 {
            if addBias { out.update(from: c.baseAddress!, count: o) }
            Kernels.gemv(m: o, n: h, a: v, lda: h, x: hidden, beta: addBias ? 1 : 0, y: out)
          } else {
            if addBias { for r in 0..<rows { (out + r * o).update(from: c.baseAddress!, count: o) } }
            blas.sgemm(
              transposeB: true, m: rows, n: o, k: h, a: hidden, lda: h, b: v, ldb: h, beta: addBias ? 1 : 0,
              c: out, ldc: o)
          }
        case .half(let v):
          if rows == 1 {
            Kernels.gemvHalf(m: o, n: h, a: v, x: hidden, bias: addBias ? c.baseAddress! : nil, y: out)
          } else {
            blockwiseLogits(hidden: hidden, rows: rows, into: out, bias: addBias ? c.baseAddress! : nil) {
              start, count, block in Kernels.halfToFloat(v + start * h, block, count: count * h)
            }
          }
        }
      }
    }
  }

  /// z = H·Vᵀ (+ bias) for `rows` hidden states and a V that is not stored as f32: `widen` converts
  /// rows [start, start + count) of V into `block`, a small f32 buffer; each block is packed and
  /// multiplied by the packed product in turn, so all of V is never expanded, and every logit is
  /// summed exactly as for the same values stored as f32 (``packedLogits(hidden:rows:into:addBias:)``).
  func blockwiseLogits(
    hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?,
    widen: (_ start: Int, _ count: Int, _ block: UnsafeMutablePointer<Float>) -> Void
  ) {
    let (h, o, level) = (hiddenSize, outputSize, Int32(Kernels.currentLevel))
    let (panelA, panelB) = Kernels.panelRows(level: level)
    // 4 MiB of widened rows of V per block, whole panels.
    let vRows = min(o, max(panelB, (1 << 20) / h / panelB * panelB))
    let widened = UnsafeMutablePointer<Float>.allocate(capacity: vRows * h)
    defer { widened.deallocate() }
    let packedV = PackedMatrix.allocate(Kernels.packedCount(rows: vRows, k: h, panel: panelB))
    defer { UnsafeMutableRawPointer(packedV).deallocate() }
    let hRows = min(rows, packedRowBlock(level: level))
    let packedH = PackedMatrix.allocate(Kernels.packedCount(rows: hRows, k: h, panel: panelA))
    defer { UnsafeMutableRawPointer(packedH).deallocate() }
    var first = 0
    while first < rows {
      let count = min(hRows, rows - first)
      Self.packRows(hidden + first * h, rows: count, k: h, level: level, into: packedH)
      let blocks = Kernels.blocks(level: level, m: count, k: h)
      var start = 0
      while start < o {
        let columns = min(vRows, o - start)
        widen(start, columns, widened)
        Kernels.packB(level: level, widened, rows: columns, k: h, ldb: h, into: packedV)
        let parts = max(1, min(Kernels.threadCount, (columns + panelB - 1) / panelB))
        let shared = (
          UnsafeSendable(packedH), UnsafeSendable(packedV), UnsafeSendable(out + first * o + start)
        )
        Kernels.parallelFor(parts) { part in
          let range = Self.columns(part: part, of: parts, total: columns, panel: panelB)
          guard !range.isEmpty else { return }
          Kernels.gemmPacked(
            level: level, m: count, k: h, a: shared.0.value, b: shared.1.value, columns: range,
            c: shared.2.value + range.lowerBound, ldc: o, blocks: blocks)
        }
        start += columns
      }
      first += count
    }
    if let bias {
      for r in 0..<rows {
        let row = out + r * o
        for j in 0..<o { row[j] += bias[j] }
      }
    }
  }

  /// The index of the largest logit of V·h + c (the first on ties), for greedy decoding: each
  /// thread computes a block of rows and its maximum while the block is still in cache.
  func argmaxLogits(hidden: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Int {
    if case .int8(let v) = outputWeights { return int8ArgmaxLogits(v, hidden: hidden, scratch: scratch) }
    if case .bfloat(let view) = outputWeights {
      return bfloat16ArgmaxLogits(view, hidden: hidden, scratch: scratch)
    }
    let h = hiddenSize
    return outputBias.withUnsafeBufferPointer { c in
      withOutputWeights { weights in
        let (x, v, bias) = (UnsafeSendable(hidden), UnsafeSendable(weights), UnsafeSendable(c.baseAddress!))
        return blockArgmax(scratch: scratch) { start, rows, out in
          switch v.value {
          case .f32(let matrix):
            out.update(from: bias.value + start, count: rows)
            Kernels.gemvF32(m: rows, n: h, a: matrix + start * h, x: x.value, beta: 1, y: out)
          case .half(let matrix):
            Kernels.gemvF16(
              m: rows, n: h, a: matrix + start * h, x: x.value, bias: bias.value + start, y: out)
          }
        }
      }
    }
  }

  /// The index of the largest of the O logits (the first on ties), computed in blocks of rows on
  /// the runtime's threads: `logits(start, rows, out)` writes logits [start, start + rows) to
  /// `out` (`scratch + start`) on the calling thread only, and each thread takes its block's
  /// maximum while the block is in cache. A V larger than one core's L2 cache may be split;
  /// whether it is, ``argmaxSplit`` measures on the first calls, unless `threads` is given.
  func blockArgmax(
    scratch: UnsafeMutablePointer<Float>, threads: Int? = nil,
    _ logits: @Sendable (_ start: Int, _ rows: Int, _ out: UnsafeMutablePointer<Float>) -> Void
  ) -> Int {
    let (h, o) = (hiddenSize, outputSize)
    let candidates = Kernels.splitThreads(bytes: o * h * outputElementBytes, rows: o, rowsPerThread: 256)
    let (threads, timed) = threads.map { ($0, nil) } ?? argmaxSplit.threads(upTo: candidates)
    defer { if let timed { argmaxSplit.record(timed) } }
    let chunk = ((o + threads - 1) / threads + 3) & ~3
    var best = [(index: Int, value: Float)](repeating: (0, -.infinity), count: threads)
    best.withUnsafeMutableBufferPointer { best in
      let shared = (UnsafeSendable(best.baseAddress!), UnsafeSendable(scratch))
      Kernels.parallelFor(threads) { t in
        let start = t * chunk
        let rows = min(chunk, o - start)
        guard rows > 0 else { return }
        let out = shared.1.value + start
        logits(start, rows, out)
        let i = Kernels.argmax(out, count: rows)
        shared.0.value[t] = (start + i, out[i])
      }
    }
    // Blocks are in index order, so a strict comparison keeps the first maximum.
    var winner = best[0]
    for candidate in best.dropFirst() where candidate.value > winner.value { winner = candidate }
    return winner.index
  }

  /// Applies g to each of `rows` rows of O values.
  func applyOutputActivation(_ values: UnsafeMutablePointer<Float>, rows: Int) {
    let o = outputSize
    switch outputActivation {
    case .identity: return
    case .sigmoid: Kernels.sigmoid(values, count: rows * o)
    case .softmax:
      let parts = rows >= 64 ? Kernels.threadCount : 1
      let per = (rows + parts - 1) / parts
      let shared = UnsafeSendable(values)
      Kernels.parallelFor(parts) { part in
        for r in (part * per)..<min(rows, (part + 1) * per) {
          Kernels.softmax(shared.value + r * o, count: o)
        }
      }
    }
  }

  /// y_t for every row of `states`, row-major.
  func outputs(for states: HiddenStates) -> [Float] {
    let rows = states.totalRows
    var out = [Float](repeating: 0, count: rows * outputSize)
    out.withUnsafeMutableBufferPointer { out in
      states.rows.withUnsafeBufferPointer { hidden in
        logits(hidden: hidden.baseAddress!, rows: rows, into: out.baseAddress!)
      }
      applyOutputActivation(out.baseAddress!, rows: rows)
    }
    return out
  }

  func results(_ states: HiddenStates) -> [ForwardResult] {
    let y = outputs(for: states)
    let (h, o) = (hiddenSize, outputSize)
    return states.offsets.indices.map { s in
      let range = states.offsets[s]..<(states.offsets[s] + states.lengths[s])
      return ForwardResult(
        hidden: range.map { Array(states.rows[($0 * h)..<(($0 + 1) * h)]) },
        outputs: range.map { Array(y[($0 * o)..<(($0 + 1) * o)]) })
    }
  }

  // MARK: public forward passes

  /// Runs a whole token sequence from h_0 = 0 and returns every h_t and y_t.
  public func forward(tokens: [Int]) throws(RuntimeError) -> ForwardResult {
    try checkTokens(tokens)
    try requireMatrixProducts()
    return results(try hiddenStates(tokens: [tokens]))[0]
  }

  /// Runs a whole sequence of dense input vectors (each of size X) from h_0 = 0.
  public func forward(vectors: [[Float]]) throws(RuntimeError) -> ForwardResult {
    try checkVectors(vectors)
    return results(try hiddenStates(vectors: [vectors]))[0]
  }

  /// Runs many token sequences of any lengths at once; result `i` equals `forward(tokens: batch[i])`
  /// up to rounding. A sequence whose hidden state fails reports its index in the error.
  public func forward(batch: [[Int]]) throws(RuntimeError) -> [ForwardResult] {
    guard !batch.isEmpty else { throw .emptyInput }
    for sequence in batch { try checkTokens(sequence) }
    try requireMatrixProducts()
    return results(try hiddenStates(tokens: batch))
  }

  /// Runs many sequences of dense vectors at once.
  public func forward(vectorBatch batch: [[[Float]]]) throws(RuntimeError) -> [ForwardResult] {
    guard !batch.isEmpty else { throw .emptyInput }
    for sequence in batch { try checkVectors(sequence) }
    return results(try hiddenStates(vectors: batch))
  }
}
