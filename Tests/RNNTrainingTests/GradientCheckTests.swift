import Numerics
import RNNModel
import RNNTraining
import Testing

/// Analytic BPTT gradients against central finite differences, in f64, for every pair of hidden
/// activation f and output activation g (each g with its own loss; see ``ElmanNetwork``).
@Suite struct GradientCheckTests {
  /// Every pair of f and g, with each way of computing the output layer.
  static let cases: [(HiddenActivation, OutputActivation, TrainingBackend)] = HiddenActivation.allCases
    .flatMap { f in
      OutputActivation.allCases.flatMap { g in TrainingBackend.allCases.map { (f, g, $0) } }
    }

  static let inputs = [0, 3, 1, 4, 4, 2, 0]
  static let targets = [3, 1, 4, 4, 2, 0, 1]
  static let initialState: [Double] = [0.3, -0.2, 0.1, 0.25]

  /// A small random network whose pre-activations stay away from 0, where relu and elu have kinks
  /// and finite differences would straddle them.
  static func network(_ f: HiddenActivation, _ g: OutputActivation) -> ElmanNetwork<Double> {
    var seed: UInt64 = 1
    while true {
      var generator = SplitMix64(seed: seed)
      var network = ElmanNetwork<Double>.random(
        hiddenSize: 4, inputSize: 5, outputSize: 5, hiddenActivation: f, outputActivation: g,
        generator: &generator)
      // Non-zero biases, so every parameter has a gradient worth checking.
      network.b = (0..<4).map { _ in generator.nextUnit() - 0.5 }
      network.c = (0..<5).map { _ in generator.nextUnit() - 0.5 }
      if minimumPreactivation(network) > 0.05 { return network }
      seed += 1
    }
  }

  /// The smallest |a_t[i]| over the sequence, recomputed independently of the trainer.
  static func minimumPreactivation(_ net: ElmanNetwork<Double>) -> Double {
    let H = net.hiddenSize
    var h = initialState
    var smallest = Double.infinity
    for x in inputs {
      var next = [Double](repeating: 0, count: H)
      for i in 0..<H {
        var a = net.b[i] + net.W[i * (H + net.inputSize) + H + x]
        for j in 0..<H { a += net.W[i * (H + net.inputSize) + j] * h[j] }
        smallest = min(smallest, abs(a))
        next[i] = net.hiddenActivation.apply(a)
      }
      h = next
    }
    return smallest
  }

  @Test(arguments: cases)
  func analyticGradientsMatchFiniteDifferences(
    f: HiddenActivation, g: OutputActivation, backend: TrainingBackend
  ) throws {
    let network = Self.network(f, g)
    let (_, analytic, _) = try network.lossAndGradients(
      inputs: Self.inputs, targets: Self.targets, initialState: Self.initialState, backend: backend)
    let epsilon = 1e-6
    func loss(_ net: ElmanNetwork<Double>) -> Double {
      net.loss(inputs: Self.inputs, targets: Self.targets, initialState: Self.initialState)
    }
    let tensors: [(String, WritableKeyPath<ElmanNetwork<Double>, [Double]>, [Double])] = [
      ("W", \.W, analytic.W), ("b", \.b, analytic.b), ("V", \.V, analytic.V), ("c", \.c, analytic.c),
    ]
    for (name, path, gradient) in tensors {
      var numeric = [Double](repeating: 0, count: gradient.count)
      for k in gradient.indices {
        var plus = network
        plus[keyPath: path][k] += epsilon
        var minus = network
        minus[keyPath: path][k] -= epsilon
        numeric[k] = (loss(plus) - loss(minus)) / (2 * epsilon)
      }
      // Relative error below 1e-4 per element; the absolute floor covers gradients that are 0.
      for k in gradient.indices {
        #expect(
          gradient[k].isApproximatelyEqual(to: numeric[k], absoluteTolerance: 1e-8, relativeTolerance: 1e-4),
          "\(f)/\(g)/\(backend) d\(name)[\(k)]: analytic \(gradient[k]), numeric \(numeric[k])")
      }
      // The gradient is not trivially zero, so the comparison means something.
      #expect(numeric.contains { abs($0) > 1e-3 }, "\(f)/\(g) d\(name) is all near zero")
    }
  }

  @Test func lossMatchesItsDefinition() {
    // One step from h_0 = 0 with all weights zero: y is uniform for softmax, 1/2 for sigmoid, 0 for identity.
    for g in OutputActivation.allCases {
      let net = ElmanNetwork<Double>(
        hiddenSize: 2, inputSize: 3, outputSize: 3, hiddenActivation: .tanh, outputActivation: g,
        W: [Double](repeating: 0, count: 10), b: [0, 0], V: [Double](repeating: 0, count: 6), c: [0, 0, 0])
      let loss = net.loss(inputs: [1], targets: [2])
      let expected: Double
      switch g {
      case .softmax: expected = Double.log(3)
      case .sigmoid: expected = 3 * Double.log(2)
      case .identity: expected = 0.5
      }
      #expect(loss.isApproximatelyEqual(to: expected, relativeTolerance: 1e-12), "\(g)")
    }
  }
}
