import RNNModel
import RNNRuntime

/// The weights of an Elman network in memory, in the precision `T`, with the forward pass and
/// backpropagation through time.
///
/// The layout matches ``ElmanModel``: `W` is H×(H+X) row-major with the recurrent block first
/// (W = [W_h | W_x]), `b` has H entries, `V` is O×H and `c` has O. Inputs are token ids (one-hot
/// vectors of size X) and targets are token ids (one-hot vectors of size O).
///
/// The loss depends on the output activation g, and in every case its gradient with respect to
/// the pre-activation z_t = V·h_t + c is y_t − e_target:
/// - softmax: cross-entropy, L = −Σ_t log y_t[target_t];
/// - sigmoid: binary cross-entropy against the one-hot target,
///   L = −Σ_t Σ_o (e_o log y_o + (1 − e_o) log(1 − y_o));
/// - identity: squared error, L = ½ Σ_t Σ_o (y_o − e_o)².
///
/// Input ids must be in `0..<inputSize` and target ids in `0..<outputSize`, and `initialState` must
/// have `hiddenSize` entries; the trainer guarantees this, and other callers must too (violations
/// trap, as they are programming errors, not bad files).
public struct ElmanNetwork<T: TrainingScalar>: Sendable {
  /// H.
  public let hiddenSize: Int
  /// X, the vocabulary size of the input.
  public let inputSize: Int
  /// O.
  public let outputSize: Int
  /// f.
  public var hiddenActivation: HiddenActivation
  /// g, which also chooses the loss.
  public var outputActivation: OutputActivation
  /// W = [W_h \| W_x], row-major, H × (H + X).
  public var W: [T]
  /// The hidden bias, of H.
  public var b: [T]
  /// The output weights, row-major, O × H.
  public var V: [T]
  /// The output bias, of O.
  public var c: [T]

  /// Wraps weights; the counts must match H, X and O.
  public init(
    hiddenSize: Int, inputSize: Int, outputSize: Int, hiddenActivation: HiddenActivation,
    outputActivation: OutputActivation, W: [T], b: [T], V: [T], c: [T]
  ) {
    precondition(hiddenSize > 0 && inputSize > 0 && outputSize > 0)
    precondition(W.count == hiddenSize * (hiddenSize + inputSize) && b.count == hiddenSize)
    precondition(V.count == outputSize * hiddenSize && c.count == outputSize)
    self.hiddenSize = hiddenSize
    self.inputSize = inputSize
    self.outputSize = outputSize
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.W = W
    self.b = b
    self.V = V
    self.c = c
  }

  /// Copies the weights of a validated model.
  public init(model: ElmanModel) {
    func convert(_ p: Parameter) -> [T] { p.floats().map { T($0) } }
    self.init(
      hiddenSize: model.hiddenSize, inputSize: model.inputSize, outputSize: model.outputSize,
      hiddenActivation: model.hiddenActivation, outputActivation: model.outputActivation,
      W: convert(model.W), b: convert(model.b), V: convert(model.V), c: convert(model.c))
  }

  /// A freshly initialised network: weights uniform in ±1/√fan-in, biases zero.
  public static func random(
    hiddenSize: Int, inputSize: Int, outputSize: Int, hiddenActivation: HiddenActivation = .tanh,
    outputActivation: OutputActivation = .softmax, generator: inout SplitMix64
  ) -> ElmanNetwork {
    func uniform(_ count: Int, scale: Double) -> [T] {
      (0..<count).map { _ in T((generator.nextUnit() * 2 - 1) * scale) }
    }
    // The recurrent block uses 1/√H and the input block 1, since a one-hot input selects one column.
    let recurrentScale = 1 / Double(hiddenSize).squareRoot()
    var W = [T](repeating: 0, count: hiddenSize * (hiddenSize + inputSize))
    for i in 0..<hiddenSize {
      let row = i * (hiddenSize + inputSize)
      for j in 0..<hiddenSize { W[row + j] = T((generator.nextUnit() * 2 - 1) * recurrentScale) }
      for j in 0..<inputSize { W[row + hiddenSize + j] = T((generator.nextUnit() * 2 - 1) * 0.5) }
    }
    return ElmanNetwork(
      hiddenSize: hiddenSize, inputSize: inputSize, outputSize: outputSize,
      hiddenActivation: hiddenActivation,
      outputActivation: outputActivation, W: W, b: [T](repeating: 0, count: hiddenSize),
      V: uniform(outputSize * hiddenSize, scale: recurrentScale), c: [T](repeating: 0, count: outputSize))
  }

  /// The outputs y_t = g(V·h_t + c) for each input, from h_0 = `initialState` (zeros if nil).
  public func outputs(inputs: [Int], initialState: [T]? = nil) -> [[T]] {
    let workspace = Workspace<T>(network: self, capacity: max(inputs.count, 1))
    _ = workspace.forward(self, inputs: inputs, targets: nil, initialState: initialState)
    return (0..<inputs.count).map { t in Array(workspace.out[(t * outputSize)..<((t + 1) * outputSize)]) }
  }

  /// The loss over the sequence (see the type's documentation) from h_0 = `initialState`.
  public func loss(inputs: [Int], targets: [Int], initialState: [T]? = nil) -> T {
    let workspace = Workspace<T>(network: self, capacity: max(inputs.count, 1))
    return workspace.forward(self, inputs: inputs, targets: targets, initialState: initialState)
  }

  /// The loss and its gradients with respect to W, b, V and c, by backpropagation through time,
  /// and the last hidden state. `initialState` is a constant: no gradient flows into it, as in
  /// truncated BPTT. `backend` chooses how the output layer's products are computed; `.blas` fails
  /// with ``TrainingError/openBLAS(_:)`` when OpenBLAS cannot be loaded.
  public func lossAndGradients(
    inputs: [Int], targets: [Int], initialState: [T]? = nil, backend: TrainingBackend = .portable
  ) throws(TrainingError) -> (loss: T, gradients: Gradients<T>, finalState: [T]) {
    let workspace = Workspace<T>(
      network: self, capacity: max(inputs.count, 1), products: try backend.products())
    let loss = workspace.forward(self, inputs: inputs, targets: targets, initialState: initialState)
    workspace.backward(self, inputs: inputs, targets: targets)
    return (loss, workspace.gradients, workspace.finalState(count: inputs.count))
  }

  /// Builds a model with these weights as f32 parameters.
  public func model(
    vocabulary: Vocabulary?, tokenizer: TokenizerSettings, provenance: Provenance
  ) throws(ModelError) -> ElmanModel {
    func parameter(_ values: [T], _ shape: [Int]) -> Parameter {
      Parameter(values.map { Float($0) }, shape: shape)
    }
    return try ElmanModel(
      W: parameter(W, [hiddenSize, hiddenSize + inputSize]), b: parameter(b, [hiddenSize]),
      V: parameter(V, [outputSize, hiddenSize]), c: parameter(c, [outputSize]),
      hiddenActivation: hiddenActivation, outputActivation: outputActivation, inputKind: .tokens,
      vocabulary: vocabulary, tokenizer: tokenizer, provenance: provenance)
  }

  /// Whether every weight is finite.
  public var isFinite: Bool {
    W.allSatisfy(\.isFinite) && b.allSatisfy(\.isFinite) && V.allSatisfy(\.isFinite)
      && c.allSatisfy(\.isFinite)
  }
}

/// Gradients of the loss with respect to each parameter, in the parameters' layouts.
public struct Gradients<T: TrainingScalar>: Sendable {
  /// The hidden bias, of H.
  public var W: [T]
  /// The output weights, row-major, O × H.
  public var b: [T]
  /// The output bias, of O.
  public var V: [T]
  /// The output bias, of O.
  public var c: [T]

  /// The Euclidean norm over all four tensors, accumulated in double precision.
  public var norm: Double {
    var sum = 0.0
    for tensor in [W, b, V, c] {
      for g in tensor {
        let d = Double(g)
        sum += d * d
      }
    }
    return sum.squareRoot()
  }
}

/// How the output layer's matrix products over a window are computed.
public enum TrainingBackend: String, CaseIterable, Sendable {
  /// RNNKit's own kernels, with every sum in an order fixed by the shapes alone: the same seed
  /// gives the same bits for any number of threads, and on every CPU whose kernel level has FMA
  /// (AVX2, AVX-512, arm64 agree; x86-64 without AVX2 gives other bits). With tanh the weights use
  /// no C math library function; other hidden activations call the C library's. (f32 softmax
  /// networks; the others, and f64, run plain loops with a fixed order.)
  case portable
  /// OpenBLAS matrix products over each window, on OpenBLAS's threads: the bits may differ between
  /// machines whose BLAS kernels differ, and with the thread count.
  case blas

  /// How a workspace computes the products: `.blas` loads OpenBLAS (once per process).
  func products(threads: Int = 1) throws(TrainingError) -> Products {
    switch self {
    case .portable: return .kernels(threads: threads)
    case .blas:
      do {
        return .blas(try OpenBLAS.shared())
      } catch {
        throw .openBLAS(error)
      }
    }
  }
}

/// A ``TrainingBackend`` ready to run: the training kernels on some threads, the portable loops,
/// or OpenBLAS's table.
enum Products {
  case kernels(threads: Int)
  case portable
  case blas(OpenBLAS)
}

/// The caches of one truncated-BPTT window and the gradient buffers, reused across windows.
///
/// The recurrence runs step by step; the output layer, which dominates the cost for large
/// vocabularies, runs over the whole window at once, so V and ∂V stream through the cache once per
/// window instead of once per step.
final class Workspace<T: TrainingScalar> {
  let H: Int
  let X: Int
  let O: Int
  let capacity: Int
  let products: Products
  /// h_0 … h_n, (capacity + 1) × H.
  var hs: [T]
  /// Pre-activations a_1 … a_n, capacity × H.
  var pre: [T]
  /// Outputs y_1 … y_n, capacity × O; overwritten by ∂Loss/∂z during the backward pass.
  var out: [T]
  // Separate stored properties, so the backward pass can hold all of them mutably at once.
  /// ∂Loss/∂W_h, H × H.
  var dWh: [T]
  /// ∂Loss/∂W_x is zero except in the columns of the window's inputs: one H-vector per distinct input.
  var dWx: [T]
  /// The distinct inputs of the window, in order of first appearance.
  var columns: [Int]
  /// For each input id, its index in `columns`, or -1.
  var slot: [Int]
  var db: [T]
  var dV: [T]
  var dc: [T]
  /// ∂Loss/∂h_t through the output layer, capacity × H.
  var dHs: [T]
  var dhNext: [T]
  var da: [T]
  /// The output layer's buffers when it runs on the training kernels.
  let kernelLayer: KernelOutputLayer?

  init(network: ElmanNetwork<T>, capacity: Int, products: Products = .portable) {
    H = network.hiddenSize
    X = network.inputSize
    O = network.outputSize
    self.capacity = capacity
    // The kernels compute f32 softmax layers; everything else runs the portable loops.
    if case .kernels(let threads) = products, T.self == Float.self, network.outputActivation == .softmax {
      self.products = products
      kernelLayer = KernelOutputLayer(
        hiddenSize: network.hiddenSize, outputSize: network.outputSize, capacity: capacity, threads: threads)
    } else {
      if case .kernels = products { self.products = .portable } else { self.products = products }
      kernelLayer = nil
    }
    hs = [T](repeating: 0, count: (capacity + 1) * H)
    pre = [T](repeating: 0, count: capacity * H)
    out = [T](repeating: 0, count: capacity * O)
    dWh = [T](repeating: 0, count: H * H)
    dWx = [T](repeating: 0, count: capacity * H)
    columns = []
    slot = [Int](repeating: -1, count: X)
    db = [T](repeating: 0, count: H)
    dV = [T](repeating: 0, count: O * H)
    dc = [T](repeating: 0, count: O)
    dHs = [T](repeating: 0, count: capacity * H)
    dhNext = [T](repeating: 0, count: H)
    da = [T](repeating: 0, count: H)
  }

  /// The gradients of the last backward pass, with ∂W as a dense H × (H + X) matrix.
  var gradients: Gradients<T> {
    var dW = [T](repeating: 0, count: H * (H + X))
    for i in 0..<H {
      for j in 0..<H { dW[i * (H + X) + j] = dWh[i * H + j] }
      for (k, x) in columns.enumerated() { dW[i * (H + X) + H + x] = dWx[k * H + i] }
    }
    return Gradients(W: dW, b: db, V: dV, c: dc)
  }

  func finalState(count n: Int) -> [T] { Array(hs[(n * H)..<((n + 1) * H)]) }

  /// Runs the network over `inputs` and returns the summed loss (0 when `targets` is nil).
  func forward(_ net: ElmanNetwork<T>, inputs: [Int], targets: [Int]?, initialState: [T]?) -> T {
    let n = inputs.count
    precondition(n <= capacity && (targets == nil || targets!.count == n))
    let H = self.H
    let X = self.X
    let O = self.O
    let rowLength = H + X
    let f = net.hiddenActivation
    let g = net.outputActivation
    let products = self.products
    // The training kernels also run the recurrence (f32 only), at this thread's level.
    let level = kernelLayer.map { _ in Int32(Kernels.currentLevel) }
    var total: T = 0
    hs.withUnsafeMutableBufferPointer { hs in
      if let initialState {
        precondition(initialState.count == H)
        for i in 0..<H { hs[i] = initialState[i] }
      } else {
        for i in 0..<H { hs[i] = 0 }
      }
      pre.withUnsafeMutableBufferPointer { pre in
        out.withUnsafeMutableBufferPointer { out in
          net.W.withUnsafeBufferPointer { W in
            net.V.withUnsafeBufferPointer { V in
              net.b.withUnsafeBufferPointer { b in
                net.c.withUnsafeBufferPointer { c in
                  let hs = hs.baseAddress!
                  let pre = pre.baseAddress!
                  let out = out.baseAddress!
                  let W = W.baseAddress!
                  let V = V.baseAddress!
                  // The recurrence: a_t = W_h·h_{t-1} + W_x[:, x_t] + b, h_t = f(a_t).
                  for t in 0..<n {
                    let x = inputs[t]
                    precondition(x >= 0 && x < X, "input id \(x) out of range 0..<\(X)")
                    let hPrev = hs + t * H
                    let h = hs + (t + 1) * H
                    let a = pre + t * H
                    if let level {
                      TrainingKernels.recurrentForward(
                        level: level, W: float(readOnly: W), stride: rowLength, H: H, h: float(hPrev), x: x,
                        b: float(readOnly: b.baseAddress!), a: float(a))
                    } else {
                      for i in 0..<H {
                        let row = W + i * rowLength
                        a[i] = b[i] + row[H + x] + dot(row, hPrev, H)
                      }
                    }
                    if let level, f == .tanh {
                      TrainingKernels.tanh(level: level, float(readOnly: a), float(h), count: H)
                    } else {
                      for i in 0..<H { h[i] = T(f.apply(Double(a[i]))) }
                    }
                  }
                  // The output layer over the window: z_t = V·h_t + c.
                  switch products {
                  case .kernels:
                    precondition(g == .softmax && targets != nil, "the kernels compute the softmax loss")
                    total = T(
                      kernelLayer!.forward(
                        V: UnsafeRawPointer(V).assumingMemoryBound(to: Float.self),
                        c: UnsafeRawPointer(c.baseAddress!).assumingMemoryBound(to: Float.self),
                        hs: UnsafeRawPointer(hs + H).assumingMemoryBound(to: Float.self), n: n,
                        targets: targets!))
                    return
                  case .portable:
                    for o in 0..<O {
                      let v = V + o * H
                      var t = 0
                      while t + 4 <= n {
                        let h = hs + (t + 1) * H
                        let (z0, z1, z2, z3) = dot4(v, h, h + H, h + 2 * H, h + 3 * H, H)
                        out[t * O + o] = c[o] + z0
                        out[(t + 1) * O + o] = c[o] + z1
                        out[(t + 2) * O + o] = c[o] + z2
                        out[(t + 3) * O + o] = c[o] + z3
                        t += 4
                      }
                      while t < n {
                        out[t * O + o] = c[o] + dot(v, hs + (t + 1) * H, H)
                        t += 1
                      }
                    }
                  case .blas(let blas):
                    T.gemm(
                      blas, transposeA: false, transposeB: true, m: n, n: O, k: H, a: hs + H, lda: H, b: V,
                      ldb: H,
                      beta: 0, c: out, ldc: O)
                    for t in 0..<n { axpy(1, c.baseAddress!, out + t * O, O) }
                  }
                  for t in 0..<n {
                    let target = targets?[t]
                    if let target {
                      precondition(target >= 0 && target < O, "target id \(target) out of range 0..<\(O)")
                    }
                    total += Self.activateOutput(g, out + t * O, O, target: target)
                  }
                }
              }
            }
          }
        }
      }
    }
    return total
  }

  /// Replaces z by y = g(z) in place and returns the loss against the one-hot `target`.
  @inline(__always)
  static func activateOutput(_ g: OutputActivation, _ z: UnsafeMutablePointer<T>, _ O: Int, target: Int?) -> T
  {
    switch g {
    case .softmax:
      let m = maximum(z, O)
      var sum: T = 0
      for o in 0..<O {
        let e = T.exponential(z[o] - m)
        z[o] = e
        sum += e
      }
      let inverse = 1 / sum
      var loss: T = 0
      if let target { loss = T.logarithm(sum) - T.logarithm(z[target]) }
      for o in 0..<O { z[o] *= inverse }
      return loss
    case .sigmoid:
      var loss = 0.0
      for o in 0..<O {
        let v = Double(z[o])
        if target != nil { loss += softplus(v) - (o == target ? v : 0) }
        z[o] = T(HiddenActivation.sigmoid.apply(v))
      }
      return T(loss)
    case .identity:
      guard let target else { return 0 }
      var loss: T = 0
      for o in 0..<O {
        let d = z[o] - (o == target ? 1 : 0)
        loss += d * d
      }
      return loss / 2
    }
  }

  /// Backpropagates the loss of the last `forward` call and stores the gradients.
  func backward(_ net: ElmanNetwork<T>, inputs: [Int], targets: [Int]) {
    let n = inputs.count
    let H = self.H
    let O = self.O
    let rowLength = H + self.X
    let f = net.hiddenActivation
    let products = self.products
    let level = kernelLayer.map { _ in Int32(Kernels.currentLevel) }
    // BLAS overwrites ∂V (beta 0), so only the portable loops need it cleared.
    var cleared: [ReferenceWritableKeyPath<Workspace, [T]>] = []
    if case .portable = products { cleared = [\Workspace.dV] }
    for buffer in [\Workspace.dWh, \Workspace.db, \Workspace.dc, \Workspace.dhNext] + cleared {
      self[keyPath: buffer].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
    for x in columns { slot[x] = -1 }
    columns.removeAll(keepingCapacity: true)

    hs.withUnsafeBufferPointer { hs in
      pre.withUnsafeBufferPointer { pre in
        out.withUnsafeMutableBufferPointer { out in
          net.W.withUnsafeBufferPointer { W in
            net.V.withUnsafeBufferPointer { V in
              self.dWh.withUnsafeMutableBufferPointer { dWh in
                self.dWx.withUnsafeMutableBufferPointer { dWx in
                  self.dV.withUnsafeMutableBufferPointer { dV in
                    self.db.withUnsafeMutableBufferPointer { db in
                      self.dc.withUnsafeMutableBufferPointer { dc in
                        self.dHs.withUnsafeMutableBufferPointer { dHs in
                          self.dhNext.withUnsafeMutableBufferPointer { dhNext in
                            self.da.withUnsafeMutableBufferPointer { da in
                              let dc = dc.baseAddress!
                              let hs = hs.baseAddress!
                              let pre = pre.baseAddress!
                              let dz = out.baseAddress!
                              let W = W.baseAddress!
                              let V = V.baseAddress!
                              let dWh = dWh.baseAddress!
                              let dWx = dWx.baseAddress!
                              let dV = dV.baseAddress!
                              let dHs = dHs.baseAddress!
                              let dhNext = dhNext.baseAddress!
                              let da = da.baseAddress!
                              // ∂Loss/∂z_t = y_t − e_target for each g with its loss (the kernels
                              // subtract it themselves).
                              if self.kernelLayer == nil {
                                for t in 0..<n { dz[t * O + targets[t]] -= 1 }
                              }
                              // The output layer over the window: ∂V = Σ_t dz_t h_tᵀ, ∂c = Σ_t dz_t,
                              // ∂h_t = Vᵀ dz_t.
                              switch products {
                              case .kernels:
                                self.kernelLayer!.backward(
                                  V: UnsafeRawPointer(V).assumingMemoryBound(to: Float.self),
                                  hs: UnsafeRawPointer(hs + H).assumingMemoryBound(to: Float.self),
                                  dV: float(dV),
                                  dc: float(dc), dHs: float(dHs))
                              case .portable:
                                dHs.update(repeating: 0, count: n * H)
                                // Four outputs at a time share the passes over h_t and ∂h_t; the
                                // arithmetic per element is that of the one-output loop below.
                                var first = 0
                                while first + 4 <= O {
                                  let v = V + first * H
                                  let dv = dV + first * H
                                  var sums: (T, T, T, T) = (0, 0, 0, 0)
                                  for t in stride(from: n - 1, through: 0, by: -1) {
                                    let row = dz + t * O + first
                                    let d = (row[0], row[1], row[2], row[3])
                                    sums = (sums.0 + d.0, sums.1 + d.1, sums.2 + d.2, sums.3 + d.3)
                                    axpy4(d, hs + (t + 1) * H, dv, dv + H, dv + 2 * H, dv + 3 * H, H)
                                    axpy4(d, v, v + H, v + 2 * H, v + 3 * H, dHs + t * H, H)
                                  }
                                  (dc[first], dc[first + 1], dc[first + 2], dc[first + 3]) = sums
                                  first += 4
                                }
                                for o in first..<O {
                                  let v = V + o * H
                                  let dv = dV + o * H
                                  var sum: T = 0
                                  for t in stride(from: n - 1, through: 0, by: -1) {
                                    let d = dz[t * O + o]
                                    sum += d
                                    axpy(d, hs + (t + 1) * H, dv, H)
                                    axpy(d, v, dHs + t * H, H)
                                  }
                                  dc[o] = sum
                                }
                              case .blas(let blas):
                                T.gemm(
                                  blas, transposeA: true, transposeB: false, m: O, n: H, k: n, a: dz, lda: O,
                                  b: hs + H,
                                  ldb: H, beta: 0, c: dV, ldc: H)
                                T.gemm(
                                  blas, transposeA: false, transposeB: false, m: n, n: H, k: O, a: dz, lda: O,
                                  b: V,
                                  ldb: H, beta: 0, c: dHs, ldc: H)
                                for t in stride(from: n - 1, through: 0, by: -1) {
                                  axpy(1, dz + t * O, dc, O)
                                }
                              }
                              // Back through time, step by step.
                              for t in stride(from: n - 1, through: 0, by: -1) {
                                let h = hs + (t + 1) * H
                                let hPrev = hs + t * H
                                let a = pre + t * H
                                let dh = dHs + t * H
                                for i in 0..<H {
                                  da[i] =
                                    (dh[i] + dhNext[i]) * T(f.derivative(x: Double(a[i]), y: Double(h[i])))
                                  db[i] += da[i]
                                  dhNext[i] = 0
                                }
                                let x = inputs[t]
                                var k = self.slot[x]
                                if k < 0 {
                                  k = self.columns.count
                                  self.slot[x] = k
                                  self.columns.append(x)
                                  (dWx + k * H).update(repeating: 0, count: H)
                                }
                                axpy(1, da, dWx + k * H, H)
                                if let level {
                                  TrainingKernels.recurrentBackward(
                                    level: level, W: float(readOnly: W), stride: rowLength, H: H,
                                    da: float(da),
                                    hPrev: float(readOnly: hPrev), dWh: float(dWh), dhNext: float(dhNext))
                                } else {
                                  for i in 0..<H {
                                    let d = da[i]
                                    axpy(d, hPrev, dWh + i * H, H)
                                    axpy(d, W + i * rowLength, dhNext, H)
                                  }
                                }
                              }
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
