import Numerics
import RNNModel
import RNNRuntime
import Testing

@testable import RNNTraining

/// The default backend's output layer runs on the training kernels of CKernels. These tests run it
/// at every instruction-set level the CPU supports (forced on the test's thread, which hands its
/// level to the worker threads) with shapes that leave partial vectors, blocks and time tiles:
/// H 20, a vocabulary of 300 (a full block of 256 rows and a partial one), windows of 37 steps (a
/// full tile of 32 and a partial one).
@Suite struct KernelTrainingTests {
  static let levels = Array(Kernels.levels)
  static let (hidden, vocabulary, steps) = (20, 300, 37)

  /// Runs `body` at `level`; prints the level when the CPU cannot run it.
  static func atLevel(_ level: Int, _ what: String, _ body: () throws -> Void) rethrows {
    let ran = try Kernels.atLevel(level) {
      #expect(Kernels.currentLevel == level, "the kernels did not switch to level \(level)")
      try body()
    }
    if !ran {
      print(
        "KernelTrainingTests: \(what) NOT run at level \(Kernels.levelName(level)): this CPU cannot run it"
      )
    }
  }

  static func network() -> ElmanNetwork<Float> {
    var generator = SplitMix64(seed: 11)
    var network = ElmanNetwork<Float>.random(
      hiddenSize: hidden, inputSize: vocabulary, outputSize: vocabulary, generator: &generator)
    // Non-zero biases and larger output weights, so the softmax is far from uniform.
    network.b = (0..<hidden).map { _ in Float(generator.nextUnit() - 0.5) }
    network.c = (0..<vocabulary).map { _ in Float(generator.nextUnit() * 2 - 1) }
    network.V = network.V.map { $0 * 4 }
    return network
  }

  static let sequence: [Int] = {
    var generator = SplitMix64(seed: 5)
    return (0...steps).map { _ in Int(generator.next() % UInt64(vocabulary)) }
  }()
  static var inputs: [Int] { Array(sequence.dropLast()) }
  static var targets: [Int] { Array(sequence.dropFirst()) }
  static let initialState: [Float] = (0..<hidden).map { Float($0 % 5) * 0.1 - 0.2 }

  /// The f64 reference: the portable loops in double precision, whose gradients
  /// GradientCheckTests checks against finite differences.
  static func reference(_ network: ElmanNetwork<Float>) throws -> (loss: Double, gradients: Gradients<Double>)
  {
    let double = ElmanNetwork<Double>(
      hiddenSize: network.hiddenSize, inputSize: network.inputSize, outputSize: network.outputSize,
      hiddenActivation: network.hiddenActivation, outputActivation: network.outputActivation,
      W: network.W.map(Double.init), b: network.b.map(Double.init), V: network.V.map(Double.init),
      c: network.c.map(Double.init))
    let (loss, gradients, _) = try double.lossAndGradients(
      inputs: inputs, targets: targets, initialState: initialState.map(Double.init), backend: .portable)
    return (loss, gradients)
  }

  /// The kernels' loss and gradients (f32, 1 or 2 threads) against the f64 reference. Tolerance:
  /// each gradient element within 2e-4 of the reference, relative to the largest element of its
  /// tensor (f32 sums of up to 300 terms), and the loss within a relative 1e-5.
  @Test(arguments: levels)
  func gradientsMatchTheDoublePrecisionReference(level: Int) throws {
    let network = Self.network()
    let (referenceLoss, reference) = try Self.reference(network)
    Self.atLevel(level, "gradients") {
      for threads in [1, 2] {
        let workspace = Workspace<Float>(
          network: network, capacity: Self.steps, products: .kernels(threads: threads))
        #expect(workspace.kernelLayer != nil, "the kernels must compute this layer")
        let loss = workspace.forward(
          network, inputs: Self.inputs, targets: Self.targets, initialState: Self.initialState)
        workspace.backward(network, inputs: Self.inputs, targets: Self.targets)
        let gradients = workspace.gradients
        #expect(
          Double(loss).isApproximatelyEqual(to: referenceLoss, relativeTolerance: 1e-5),
          "level \(level), \(threads) thread(s): loss \(loss) against \(referenceLoss)")
        let pairs: [(String, [Float], [Double])] = [
          ("W", gradients.W, reference.W), ("b", gradients.b, reference.b), ("V", gradients.V, reference.V),
          ("c", gradients.c, reference.c),
        ]
        for (name, computed, expected) in pairs {
          let scale = expected.map(abs).max() ?? 0
          #expect(scale > 1e-3, "\(name): the reference gradient should not vanish")
          let worst = zip(computed, expected).map { abs(Double($0) - $1) }.max() ?? 0
          #expect(
            worst <= 2e-4 * scale,
            "level \(level), \(threads) thread(s): ∂\(name) is off by \(worst) (largest element \(scale))")
        }
        // The gradient norm the trainer clips with: ∂V's squares are summed by the kernels.
        let norm = workspace.gradientNorm()
        #expect(norm.isApproximatelyEqual(to: reference.norm, relativeTolerance: 1e-4))
      }
    }
  }

  /// Central finite differences of the kernels' own f32 loss, at a sample of parameters of every
  /// tensor. f32 losses (about 200 here, rounded to ~1e-5) with a step of 1e-2 give differences good
  /// to about 2e-3; the tolerance is 1e-2 absolute plus 2% relative.
  @Test(arguments: levels)
  func gradientsMatchFiniteDifferencesOfTheKernelLoss(level: Int) throws {
    let network = Self.network()
    Self.atLevel(level, "finite differences") {
      let workspace = Workspace<Float>(network: network, capacity: Self.steps, products: .kernels(threads: 2))
      func loss(_ net: ElmanNetwork<Float>) -> Double {
        Double(
          workspace.forward(net, inputs: Self.inputs, targets: Self.targets, initialState: Self.initialState))
      }
      _ = loss(network)
      workspace.backward(network, inputs: Self.inputs, targets: Self.targets)
      let analytic = workspace.gradients
      let H = Self.hidden
      let rowLength = H + Self.vocabulary
      // Recurrent and input weights (an input the window uses), biases, and output rows in both blocks.
      let samples: [(String, WritableKeyPath<ElmanNetwork<Float>, [Float]>, [Float], [Int])] = [
        ("W", \.W, analytic.W, [0, 7, 3 * rowLength + 19, 5 * rowLength + H + Self.inputs[3]]),
        ("b", \.b, analytic.b, [0, 13, 19]),
        ("V", \.V, analytic.V, [Self.targets[0] * H, Self.targets[20] * H + 5, 299 * H + 19, 257 * H + 3]),
        ("c", \.c, analytic.c, [Self.targets[1], Self.targets[36], 0, 299]),
      ]
      let epsilon: Float = 1e-2
      for (name, path, gradient, indices) in samples {
        for k in indices {
          var plus = network
          plus[keyPath: path][k] += epsilon
          var minus = network
          minus[keyPath: path][k] -= epsilon
          let numeric = (loss(plus) - loss(minus)) / Double(2 * epsilon)
          #expect(
            Double(gradient[k]).isApproximatelyEqual(
              to: numeric, absoluteTolerance: 1e-2, relativeTolerance: 2e-2),
            "level \(level): ∂\(name)[\(k)] = \(gradient[k]), finite difference \(numeric)")
        }
      }
    }
  }

  /// A corpus with a vocabulary of about 600 words (three blocks of rows) and lines longer than
  /// the window.
  static let corpus: String = {
    var generator = SplitMix64(seed: 2)
    return (0..<12).map { _ in
      (0..<70).map { _ in "w\(generator.next() % 600)" }.joined(separator: " ")
    }.joined(separator: "\n")
  }()

  static func trainedBytes(threads: Int) throws -> [UInt8] {
    try TrainerTests.train(
      corpus, settings: LanguageModelSettings(hiddenSize: 24),
      options: TrainingOptions(epochs: 2, learningRate: 0.1, bpttLength: 32, seed: 4, threads: threads)
    ).model.encoded()
  }

  /// The same seed gives the same bytes with 1, 2 and 3 threads, and at every kernel level with
  /// FMA (AVX2 and AVX-512 on x86-64); the level without FMA only has to train.
  @Test func sameBytesForAnyThreadCountAndEveryFMALevel() throws {
    let expected = try Self.trainedBytes(threads: 1)
    for threads in [2, 3] {
      let bytes = try Self.trainedBytes(threads: threads)
      #expect(bytes == expected, "\(threads) threads changed the model")
    }
    #if arch(x86_64)
      let fmaLevels = Self.levels.filter { $0 >= 1 }
    #else
      let fmaLevels = Self.levels
    #endif
    for level in fmaLevels {
      try Self.atLevel(level, "reproducibility") {
        let bytes = try Self.trainedBytes(threads: 2)
        #expect(bytes == expected, "level \(level) changed the model")
      }
    }
    try Self.atLevel(0, "training without FMA") {
      let (one, two) = (try Self.trainedBytes(threads: 1), try Self.trainedBytes(threads: 2))
      #expect(one == two, "without FMA, 2 threads changed the model")
    }
  }
}
