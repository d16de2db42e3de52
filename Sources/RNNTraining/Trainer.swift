import RNNModel

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The settings of a training run.
public struct TrainingOptions: Sendable {
  /// H, for a new model.
  public var hiddenSize: Int
  /// Passes over the corpus.
  public var epochs: Int
  /// η in W := W − η·∂Loss/∂W, where Loss sums over the steps of a truncated-BPTT window.
  public var learningRate: Double
  /// The largest gradient norm: larger gradients are scaled down to it. Nil turns clipping off.
  public var clip: Double?
  /// The truncated-BPTT window: errors flow back at most this many steps.
  public var bpttLength: Int
  /// Seeds the initial weights and the order of lines.
  public var seed: UInt64
  /// f, for a new model.
  public var hiddenActivation: HiddenActivation
  /// How the output layer's products are computed; `.portable` gives the same bits for any number
  /// of threads (see ``TrainingBackend``).
  public var backend: TrainingBackend
  /// The threads of the `.portable` backend; nil uses every processor online. (`.blas` runs on
  /// OpenBLAS's threads.) The trained weights do not depend on it.
  public var threads: Int?

  /// Training options; the defaults train 20 epochs at η 0.05, clipping at 5, BPTT 32, on every
  /// processor.
  public init(
    hiddenSize: Int = 64, epochs: Int = 20, learningRate: Double = 0.05, clip: Double? = 5,
    bpttLength: Int = 32, seed: UInt64 = 0, hiddenActivation: HiddenActivation = .tanh,
    backend: TrainingBackend = .portable, threads: Int? = nil
  ) {
    self.backend = backend
    self.threads = threads
    self.hiddenSize = hiddenSize
    self.epochs = epochs
    self.learningRate = learningRate
    self.clip = clip
    self.bpttLength = bpttLength
    self.seed = seed
    self.hiddenActivation = hiddenActivation
  }

  /// Throws for options out of range.
  public func validate() throws(TrainingError) {
    guard hiddenSize > 0 else {
      throw .invalidParameter(
        .hiddenSize, value: "\(hiddenSize)", reason: "the hidden size must be at least 1")
    }
    guard hiddenSize <= 65_536 else {
      throw .invalidParameter(
        .hiddenSize, value: "\(hiddenSize)", reason: "the hidden size must be at most 65536")
    }
    guard epochs > 0 else {
      throw .invalidParameter(.epochs, value: "\(epochs)", reason: "train for at least 1 epoch")
    }
    guard learningRate > 0, learningRate.isFinite else {
      throw .invalidParameter(
        .learningRate, value: "\(learningRate)",
        reason: "the learning rate must be a positive number")
    }
    if let clip, !(clip > 0 && clip.isFinite) {
      throw .invalidParameter(.clip, value: "\(clip)", reason: "the clipping norm must be a positive number")
    }
    guard bpttLength > 0, bpttLength <= 1_000_000 else {
      throw .invalidParameter(
        .bpttLength, value: "\(bpttLength)",
        reason: "the BPTT window must be between 1 and 1000000 steps")
    }
    if let threads, !(1...1024).contains(threads) {
      throw .invalidParameter(.threads, value: "\(threads)", reason: "use between 1 and 1024 threads")
    }
  }
}

/// Where training stands, reported after every window.
public struct TrainingProgress: Sendable {
  /// The epoch, from 1.
  public var epoch: Int
  /// How many epochs there are in all.
  public var epochs: Int
  /// Predicted tokens so far in this epoch.
  public var tokensDone: Int
  /// How many tokens an epoch has.
  public var tokensInEpoch: Int
  /// The mean loss per token so far in this epoch.
  public var meanLoss: Double
}

/// The summary of one epoch.
public struct EpochReport: Sendable {
  /// The epoch, from 1.
  public var epoch: Int
  /// The mean loss per predicted token (cross-entropy for softmax models).
  public var meanLoss: Double
  /// e^meanLoss for softmax models; nil for other output activations, whose loss is not a cross-entropy.
  public var perplexity: Double?
  /// Predicted tokens.
  public var tokens: Int
  /// The wall time the epoch took.
  public var seconds: Double
  /// How many updates had their gradient scaled down by clipping.
  public var clippedUpdates: Int
  /// How many parameter updates the epoch made.
  public var updates: Int
  /// Training speed over the epoch.
  public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// Trains an Elman network by truncated backpropagation through time and plain SGD.
public enum Trainer {
  /// The most floats training allocates for one buffer (1 GiB of f32), so that an option can never
  /// ask for an absurd allocation.
  public static let maximumElements = 1 << 28

  /// Trains `network` in place on `sequences` (token ids; the hidden state restarts at zero at
  /// each sequence) and returns one report per epoch.
  ///
  /// Each sequence is cut into windows of `bpttLength` predictions. For each window the trainer
  /// runs the forward pass from the hidden state the previous window ended in, backpropagates the
  /// summed loss through the window, scales the gradient down to norm `clip` if it is larger, and
  /// applies W := W − η·∂Loss/∂W. The order of sequences is shuffled each epoch by `options.seed`.
  public static func train(
    _ network: inout ElmanNetwork<Float>, sequences: [[Int]], options: TrainingOptions,
    progress: (TrainingProgress) -> Void = { _ in }, epochEnd: (EpochReport) -> Void = { _ in }
  ) throws(TrainingError) -> [EpochReport] {
    try options.validate()
    let usable = sequences.filter { $0.count >= 2 }
    let tokensInEpoch = usable.reduce(0) { $0 + $1.count - 1 }
    let longest = usable.map { $0.count - 1 }.max() ?? 1
    let window = max(1, min(options.bpttLength, longest))
    let (cached, overflow) = (window + 1).multipliedReportingOverflow(
      by: network.outputSize + 2 * network.hiddenSize)
    guard !overflow, cached <= maximumElements else {
      throw .invalidParameter(
        .bpttLength, value: "\(options.bpttLength)",
        reason:
          "a window this long with \(network.outputSize) outputs needs more than \(maximumElements) cached values; use a shorter window"
      )
    }
    if options.backend == .portable {
      // The kernels' buffers: logits of whole time tiles, and each block's share of ∂h.
      let tiles = (window + TrainingKernels.steps - 1) / TrainingKernels.steps
      let blocks = (network.outputSize + TrainingKernels.block - 1) / TrainingKernels.block
      let (shares, overflow1) = blocks.multipliedReportingOverflow(by: network.hiddenSize)
      let (perStep, overflow2) = shares.addingReportingOverflow(network.outputSize)
      let (elements, overflow3) = perStep.multipliedReportingOverflow(by: tiles * TrainingKernels.steps)
      guard !(overflow1 || overflow2 || overflow3), elements <= maximumElements else {
        throw .invalidParameter(
          .bpttLength, value: "\(options.bpttLength)",
          reason:
            "a window this long with \(network.outputSize) outputs and \(network.hiddenSize) hidden units needs more than \(maximumElements) cached values; use a shorter window"
        )
      }
    }
    let threads = options.threads ?? TrainingKernels.processorCount
    let workspace = Workspace<Float>(
      network: network, capacity: window, products: try options.backend.products(threads: threads))
    var generator = SplitMix64(seed: options.seed ^ 0x5EED_0F_0DE5)
    var order = Array(usable.indices)
    var reports: [EpochReport] = []
    let clock = ContinuousClock()
    var state = [Float](repeating: 0, count: network.hiddenSize)
    var inputs: [Int] = []
    var targets: [Int] = []
    inputs.reserveCapacity(options.bpttLength)
    targets.reserveCapacity(options.bpttLength)

    for epoch in 1...options.epochs {
      let start = clock.now
      generator.shuffle(&order)
      var totalLoss = 0.0
      var done = 0
      var clipped = 0
      var updates = 0
      for index in order {
        let sequence = usable[index]
        for i in state.indices { state[i] = 0 }
        var position = 0
        while position < sequence.count - 1 {
          let end = min(position + options.bpttLength, sequence.count - 1)
          inputs.removeAll(keepingCapacity: true)
          targets.removeAll(keepingCapacity: true)
          inputs += sequence[position..<end]
          targets += sequence[(position + 1)...end]
          let loss = workspace.forward(network, inputs: inputs, targets: targets, initialState: state)
          guard loss.isFinite else {
            throw .nonFiniteLoss(epoch: epoch, learningRate: options.learningRate, clip: options.clip)
          }
          workspace.backward(network, inputs: inputs, targets: targets)
          let norm = workspace.gradientNorm()
          guard norm.isFinite else {
            throw .nonFiniteLoss(epoch: epoch, learningRate: options.learningRate, clip: options.clip)
          }
          var scale = options.learningRate
          if let clip = options.clip, norm > clip {
            scale *= clip / norm
            clipped += 1
          }
          workspace.applyUpdate(to: &network, step: Float(scale))
          updates += 1
          state = workspace.finalState(count: inputs.count)
          totalLoss += Double(loss)
          done += inputs.count
          position = end
          progress(
            TrainingProgress(
              epoch: epoch, epochs: options.epochs, tokensDone: done, tokensInEpoch: tokensInEpoch,
              meanLoss: totalLoss / Double(done)))
        }
      }
      let elapsed = start.duration(to: clock.now)
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      let mean = totalLoss / Double(max(done, 1))
      guard network.isFinite else {
        throw .nonFiniteLoss(epoch: epoch, learningRate: options.learningRate, clip: options.clip)
      }
      let report = EpochReport(
        epoch: epoch, meanLoss: mean,
        perplexity: network.outputActivation == .softmax ? exp(mean) : nil, tokens: done,
        seconds: seconds, clippedUpdates: clipped, updates: updates)
      reports.append(report)
      epochEnd(report)
    }
    return reports
  }
}

extension Workspace {
  /// The norm of the gradients of the last backward pass, in double precision.
  func gradientNorm() -> Double {
    var sum = 0.0
    for tensor in [dWh, db, dc] {
      sum += tensor.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, $0.count) }
    }
    // The kernels summed ∂V's squares while they wrote it.
    sum += kernelLayer?.dVSquares ?? dV.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, $0.count) }
    sum += dWx.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, columns.count * H) }
    return sum.squareRoot()
  }

  /// W := W − step·∂W for every parameter.
  func applyUpdate(to network: inout ElmanNetwork<T>, step: T) {
    let negative = -step
    let H = self.H
    let rowLength = H + X
    network.W.withUnsafeMutableBufferPointer { W in
      dWh.withUnsafeBufferPointer { dWh in
        for i in 0..<H { axpy(negative, dWh.baseAddress! + i * H, W.baseAddress! + i * rowLength, H) }
      }
      dWx.withUnsafeBufferPointer { dWx in
        for (k, x) in columns.enumerated() {
          for i in 0..<H { W[i * rowLength + H + x] += negative * dWx[k * H + i] }
        }
      }
    }
    func update(_ parameter: inout [T], _ gradient: [T]) {
      parameter.withUnsafeMutableBufferPointer { p in
        gradient.withUnsafeBufferPointer { g in axpy(negative, g.baseAddress!, p.baseAddress!, p.count) }
      }
    }
    update(&network.b, db)
    if let kernelLayer {
      network.V.withUnsafeMutableBufferPointer { V in
        dV.withUnsafeBufferPointer { dV in
          kernelLayer.update(
            V: UnsafeMutableRawPointer(V.baseAddress!).assumingMemoryBound(to: Float.self),
            dV: UnsafeRawPointer(dV.baseAddress!).assumingMemoryBound(to: Float.self), step: Float(negative))
        }
      }
    } else {
      update(&network.V, dV)
    }
    update(&network.c, dc)
  }
}
