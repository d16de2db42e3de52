import RNNModel

/// A running model for streaming use: feed one token or vector at a time and read h_t and y_t.
///
/// A session is a value: assigning it to another variable copies the state, so a caller can branch
/// (for example, try several continuations from one prefix). ``reset()`` returns to h_0 = 0.
public struct InferenceSession: Sendable {
  /// The prepared model.
  public let model: InferenceModel
  /// h_t after the last step (h_0 = 0 before any).
  public private(set) var hidden: [Float]
  /// How many steps have been fed since the start or the last reset.
  public private(set) var steps: Int = 0

  /// Starts at h_0 = 0.
  public init(model: InferenceModel) {
    self.model = model
    hidden = [Float](repeating: 0, count: model.hiddenSize)
  }

  /// Returns to h_0 = 0.
  public mutating func reset() {
    hidden = [Float](repeating: 0, count: model.hiddenSize)
    steps = 0
  }

  /// Replaces the hidden state, for example with one saved from another session.
  public mutating func restore(hidden state: [Float]) throws(RuntimeError) {
    guard state.count == model.hiddenSize else {
      throw .wrongStateSize(found: state.count, expected: model.hiddenSize)
    }
    hidden = state
  }

  /// Feeds a token and returns y_t.
  @discardableResult
  public mutating func feed(token: Int) throws(RuntimeError) -> [Float] {
    try advance(token: token)
    return output()
  }

  /// Feeds a dense input vector of size X and returns y_t.
  @discardableResult
  public mutating func feed(vector: [Float]) throws(RuntimeError) -> [Float] {
    try advance(vector: vector)
    return output()
  }

  /// Feeds a token and updates h_t only, without computing y_t (cheaper when y_t is not needed).
  public mutating func advance(token: Int) throws(RuntimeError) {
    guard model.model.inputKind == .tokens else { throw .inputKindMismatch(model: .dense, given: .tokens) }
    guard token >= 0 && token < model.inputSize else {
      throw .tokenOutOfRange(position: steps, id: token, vocabularySize: model.inputSize)
    }
    let h = model.hiddenSize
    var next = [Float](unsafeUninitializedCapacity: h) { $1 = h }
    try next.withUnsafeMutableBufferPointer { (next) throws(RuntimeError) in
      let row = next.baseAddress!
      try model.inputColumns.copyRows([token]) { _ in row }
    }
    try step(&next)
  }

  /// Feeds several tokens, updating h_t only.
  public mutating func advance(tokens: [Int]) throws(RuntimeError) {
    // Their input columns first, in one sweep over W (the ids are checked again, in order, below).
    if model.model.inputKind == .tokens, tokens.allSatisfy({ $0 >= 0 && $0 < model.inputSize }) {
      try model.inputColumns.prepare(tokens)
    }
    for token in tokens { try advance(token: token) }
  }

  /// Feeds a dense vector and updates h_t only.
  public mutating func advance(vector: [Float]) throws(RuntimeError) {
    guard model.model.inputKind == .dense else { throw .inputKindMismatch(model: .tokens, given: .dense) }
    guard vector.count == model.inputSize else {
      throw .wrongVectorSize(position: steps, found: vector.count, expected: model.inputSize)
    }
    let (h, x) = (model.hiddenSize, model.inputSize)
    try model.requireMatrixProducts()
    var next = model.bias
    let inputRows = try model.inputColumns.transposedMatrix()
    next.withUnsafeMutableBufferPointer { next in
      vector.withUnsafeBufferPointer { v in
        inputRows.withUnsafeBufferPointer { w in
          // W_xᵀ is X×H, so W_x·x is (W_xᵀ)ᵀ·x: one row-vector product.
          model.blas.sgemm(
            m: 1, n: h, k: x, a: v.baseAddress!, lda: x, b: w.baseAddress!, ldb: h, beta: 1,
            c: next.baseAddress!,
            ldc: h)
        }
      }
    }
    try step(&next)
  }

  /// next holds W_x·x_t + b; adds W_h·h_{t-1}, applies f and checks the result.
  private mutating func step(_ next: inout [Float]) throws(RuntimeError) {
    let h = model.hiddenSize
    let activation = model.activation
    let first = steps == 0 && hidden.allSatisfy { $0 == 0 }
    let finite = next.withUnsafeMutableBufferPointer { next in
      hidden.withUnsafeBufferPointer { prev in
        model.recurrent.withUnsafeBufferPointer { wh in
          if !first {
            Kernels.gemv(
              m: h, n: h, a: wh.baseAddress!, lda: h, x: prev.baseAddress!, beta: 1, y: next.baseAddress!)
          }
          Kernels.activate(activation, next.baseAddress!, count: h)
          return Kernels.allFinite(next.baseAddress!, count: h)
        }
      }
    }
    guard finite else { throw .nonFiniteHidden(step: steps, sequence: nil) }
    hidden = next
    steps += 1
  }

  /// z_t = V·h_t + c, before the output activation.
  public func logits() -> [Float] {
    var z = [Float](repeating: 0, count: model.outputSize)
    z.withUnsafeMutableBufferPointer { z in
      hidden.withUnsafeBufferPointer { model.logits(hidden: $0.baseAddress!, rows: 1, into: z.baseAddress!) }
    }
    return z
  }

  /// y_t = g(V·h_t + c).
  public func output() -> [Float] {
    var y = logits()
    y.withUnsafeMutableBufferPointer { model.applyOutputActivation($0.baseAddress!, rows: 1) }
    return y
  }
}
