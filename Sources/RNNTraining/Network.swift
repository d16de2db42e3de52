import RNNModel

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
  public var W: [T]
  public var b: [T]
  public var V: [T]
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
  /// truncated BPTT.
  public func lossAndGradients(inputs: [Int], targets: [Int], initialState: [T]? = nil)
    -> (loss: T, gradients: Gradients<T>, finalState: [T])
  {
    let workspace = Workspace<T>(network: self, capacity: max(inputs.count, 1))
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
  public var W: [T]
  public var b: [T]
  public var V: [T]
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

/// The caches of one truncated-BPTT chunk and the gradient buffers, reused across chunks.
final class Workspace<T: TrainingScalar> {
  let H: Int
  let X: Int
  let O: Int
  let capacity: Int
  /// h_0 … h_n, (capacity + 1) × H.
  var hs: [T]
  /// Pre-activations a_1 … a_n, capacity × H.
  var pre: [T]
  /// Outputs y_1 … y_n, capacity × O; overwritten by dz during the backward pass.
  var out: [T]
  // Separate stored properties, so the backward pass can hold all of them mutably at once.
  var dW: [T]
  var db: [T]
  var dV: [T]
  var dc: [T]
  var dh: [T]
  var dhNext: [T]
  var da: [T]

  init(network: ElmanNetwork<T>, capacity: Int) {
    H = network.hiddenSize
    X = network.inputSize
    O = network.outputSize
    self.capacity = capacity
    hs = [T](repeating: 0, count: (capacity + 1) * H)
    pre = [T](repeating: 0, count: capacity * H)
    out = [T](repeating: 0, count: capacity * O)
    dW = [T](repeating: 0, count: H * (H + X))
    db = [T](repeating: 0, count: H)
    dV = [T](repeating: 0, count: O * H)
    dc = [T](repeating: 0, count: O)
    dh = [T](repeating: 0, count: H)
    dhNext = [T](repeating: 0, count: H)
    da = [T](repeating: 0, count: H)
  }

  var gradients: Gradients<T> { Gradients(W: dW, b: db, V: dV, c: dc) }

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
              let hs = hs.baseAddress!
              let pre = pre.baseAddress!
              let out = out.baseAddress!
              let W = W.baseAddress!
              let V = V.baseAddress!
              for t in 0..<n {
                let x = inputs[t]
                precondition(x >= 0 && x < X, "input id \(x) out of range 0..<\(X)")
                let hPrev = hs + t * H
                let h = hs + (t + 1) * H
                let a = pre + t * H
                for i in 0..<H {
                  let row = W + i * rowLength
                  a[i] = net.b[i] + row[H + x] + dot(row, hPrev, H)
                }
                for i in 0..<H { h[i] = T(f.apply(Double(a[i]))) }
                let z = out + t * O
                for o in 0..<O { z[o] = net.c[o] + dot(V + o * H, h, H) }
                let target = targets?[t]
                if let target {
                  precondition(target >= 0 && target < O, "target id \(target) out of range 0..<\(O)")
                }
                total += Self.activateOutput(g, z, O, target: target)
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
      var m = z[0]
      for o in 1..<max(O, 1) where z[o] > m { m = z[o] }
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
    for buffer in [\Workspace.dW, \Workspace.dV, \Workspace.db, \Workspace.dc, \Workspace.dhNext] {
      self[keyPath: buffer].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
    hs.withUnsafeBufferPointer { hs in
      pre.withUnsafeBufferPointer { pre in
        out.withUnsafeMutableBufferPointer { out in
          net.W.withUnsafeBufferPointer { W in
            net.V.withUnsafeBufferPointer { V in
              self.dW.withUnsafeMutableBufferPointer { dW in
                self.dV.withUnsafeMutableBufferPointer { dV in
                  self.db.withUnsafeMutableBufferPointer { db in
                    self.dc.withUnsafeMutableBufferPointer { dc in
                      self.dh.withUnsafeMutableBufferPointer { dh in
                        self.dhNext.withUnsafeMutableBufferPointer { dhNext in
                          self.da.withUnsafeMutableBufferPointer { da in
                            let hs = hs.baseAddress!
                            let pre = pre.baseAddress!
                            let W = W.baseAddress!
                            let V = V.baseAddress!
                            let dW = dW.baseAddress!
                            let dV = dV.baseAddress!
                            let dh = dh.baseAddress!
                            let dhNext = dhNext.baseAddress!
                            let da = da.baseAddress!
                            for t in stride(from: n - 1, through: 0, by: -1) {
                              let dz = out.baseAddress! + t * O
                              dz[targets[t]] -= 1
                              let h = hs + (t + 1) * H
                              let hPrev = hs + t * H
                              let a = pre + t * H
                              for i in 0..<H { dh[i] = dhNext[i] }
                              for o in 0..<O {
                                let d = dz[o]
                                dc[o] += d
                                axpy(d, h, dV + o * H, H)
                                axpy(d, V + o * H, dh, H)
                              }
                              for i in 0..<H {
                                da[i] = dh[i] * T(f.derivative(x: Double(a[i]), y: Double(h[i])))
                                db[i] += da[i]
                                dhNext[i] = 0
                              }
                              let x = inputs[t]
                              for i in 0..<H {
                                let d = da[i]
                                let row = dW + i * rowLength
                                axpy(d, hPrev, row, H)
                                row[H + x] += d
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
