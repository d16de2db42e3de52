import RNNRuntime

/// The output layer of a window (softmax and cross-entropy, f32) on the training kernels of
/// CKernels, split by blocks of vocabulary rows over `threads` threads.
///
/// What each step of a window does to the output layer is the same few large products, batched
/// over the window's time steps: the logits of all steps (V·H + c), the softmax fused with them per
/// block of rows, ∂V = ∂Zᵀ·H and ∂c, and ∂H = ∂Z·V. Every sum has an order fixed by the shapes (see
/// training_template.h), so the results are the same bits for any number of threads, and on every
/// CPU whose kernel level has FMA.
final class KernelOutputLayer: @unchecked Sendable {
  let H: Int
  let O: Int
  let threads: Int
  let blocks: Int
  let capacityTiles: Int
  /// The time tiles of the current window.
  private(set) var tiles = 0
  /// The steps of the current window.
  private(set) var n = 0
  /// The level of the thread that ran the window's forward pass.
  private var level: Int32 = 0
  /// h_t of each step of a tile side by side: tiles × H × steps.
  let states: UnsafeMutablePointer<Float>
  /// Logits, then exp(z − m), then ∂Loss/∂z: tiles × O × steps.
  let logits: UnsafeMutablePointer<Float>
  /// Per block: the largest logit of each step, Σ exp(z − m), and the scale to probabilities
  /// (blocks × tiles × steps each).
  let blockMax: UnsafeMutablePointer<Float>
  let blockSum: UnsafeMutablePointer<Float>
  let scale: UnsafeMutablePointer<Float>
  /// The logit of each step's target.
  let targetLogit: UnsafeMutablePointer<Float>
  /// Each block's share of ∂Loss/∂h: blocks × tiles × H × steps.
  let partials: UnsafeMutablePointer<Float>
  /// Σ ∂V² per block.
  let squares: UnsafeMutablePointer<Double>
  let targets: UnsafeMutablePointer<Int>
  /// Σ ∂V² of the last backward pass, added up in block order.
  private(set) var dVSquares = 0.0

  init(hiddenSize: Int, outputSize: Int, capacity: Int, threads: Int) {
    H = hiddenSize
    O = outputSize
    self.threads = max(1, threads)
    let steps = TrainingKernels.steps
    blocks = (outputSize + TrainingKernels.block - 1) / TrainingKernels.block
    capacityTiles = (capacity + steps - 1) / steps
    func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
      p.initialize(repeating: 0, count: count)
      return p
    }
    states = buffer(capacityTiles * H * steps)
    logits = buffer(capacityTiles * O * steps)
    blockMax = buffer(blocks * capacityTiles * steps)
    blockSum = buffer(blocks * capacityTiles * steps)
    scale = buffer(blocks * capacityTiles * steps)
    targetLogit = buffer(capacityTiles * steps)
    partials = buffer(blocks * capacityTiles * H * steps)
    squares = .allocate(capacity: blocks)
    squares.initialize(repeating: 0, count: blocks)
    targets = .allocate(capacity: capacityTiles * steps)
    targets.initialize(repeating: 0, count: capacityTiles * steps)
  }

  deinit {
    for p in [states, logits, blockMax, blockSum, scale, targetLogit, partials] { p.deallocate() }
    squares.deallocate()
    targets.deallocate()
  }

  /// The rows of block `b`.
  private func rows(_ b: Int) -> Range<Int> {
    (b * TrainingKernels.block)..<min(O, (b + 1) * TrainingKernels.block)
  }

  /// The summed cross-entropy of the window whose states h_1 … h_n start at `hs` (rows of H).
  func forward(
    V: UnsafePointer<Float>, c: UnsafePointer<Float>, hs: UnsafePointer<Float>, n: Int, targets: [Int]
  ) -> Float {
    let steps = TrainingKernels.steps
    self.n = n
    tiles = (n + steps - 1) / steps
    level = Int32(Kernels.currentLevel)
    for j in 0..<tiles {
      for k in 0..<H {
        let row = states + (j * H + k) * steps
        for s in 0..<steps {
          let t = j * steps + s
          row[s] = t < n ? hs[t * H + k] : 0
        }
      }
    }
    for t in 0..<n {
      precondition(targets[t] >= 0 && targets[t] < O, "target id \(targets[t]) out of range 0..<\(O)")
      self.targets[t] = targets[t]
    }
    let (v, bias) = (UnsafeSendable(V), UnsafeSendable(c))
    let stride = tiles * steps
    TrainingKernels.forEachBlock(blocks, threads: threads) { range in
      for b in range {
        TrainingKernels.logits(
          level: self.level, V: v.value, c: bias.value, H: self.H, O: self.O, rows: self.rows(b),
          states: self.states, tiles: self.tiles, n: self.n, targets: self.targets, logits: self.logits,
          blockMax: self.blockMax + b * stride, blockSum: self.blockSum + b * stride,
          targetLogit: self.targetLogit)
      }
    }
    return TrainingKernels.combine(
      level: level, blocks: blocks, tiles: tiles, n: n, blockMax: blockMax, blockSum: blockSum,
      targetLogit: targetLogit, scale: scale)
  }

  /// The backward pass of the output layer of the last `forward`: all of ∂V and ∂c, and ∂Loss/∂h_t
  /// through the output layer into `dHs` (n rows of H).
  func backward(
    V: UnsafePointer<Float>, hs: UnsafePointer<Float>, dV: UnsafeMutablePointer<Float>,
    dc: UnsafeMutablePointer<Float>, dHs: UnsafeMutablePointer<Float>
  ) {
    let steps = TrainingKernels.steps
    let stride = tiles * steps
    let (v, states, dv, dcs) = (UnsafeSendable(V), UnsafeSendable(hs), UnsafeSendable(dV), UnsafeSendable(dc))
    TrainingKernels.forEachBlock(blocks, threads: threads) { range in
      for b in range {
        self.squares[b] = TrainingKernels.outputBackward(
          level: self.level, V: v.value, H: self.H, O: self.O, rows: self.rows(b), logits: self.logits,
          scale: self.scale + b * stride, tiles: self.tiles, n: self.n, targets: self.targets,
          hs: states.value,
          dV: dv.value, dc: dcs.value, partial: self.partials + b * self.tiles * self.H * steps)
      }
    }
    TrainingKernels.sumPartials(
      level: level, blocks: blocks, tiles: tiles, H: H, n: n, partials: partials, dHs: dHs)
    var total = 0.0
    for b in 0..<blocks { total += squares[b] }
    dVSquares = total
  }

  /// V += step·∂V, by blocks of rows on the layer's threads.
  func update(V: UnsafeMutablePointer<Float>, dV: UnsafePointer<Float>, step: Float) {
    let (v, dv) = (UnsafeSendable(V), UnsafeSendable(dV))
    let level = self.level
    TrainingKernels.forEachBlock(blocks, threads: threads) { range in
      let first = range.lowerBound * TrainingKernels.block
      let end = min(self.O, range.upperBound * TrainingKernels.block)
      TrainingKernels.step(
        level: level, v.value + first * self.H, dv.value + first * self.H, count: (end - first) * self.H,
        step: step)
    }
  }
}

/// Carries a pointer into a concurrent loop whose iterations touch disjoint parts.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}

/// The same memory as f32: for the generic workspace's buffers when `T` is `Float`, the only case
/// that runs the kernels.
@inline(__always) func float<P>(_ p: UnsafeMutablePointer<P>) -> UnsafeMutablePointer<Float> {
  UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

@inline(__always) func float<P>(readOnly p: UnsafePointer<P>) -> UnsafePointer<Float> {
  UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}
