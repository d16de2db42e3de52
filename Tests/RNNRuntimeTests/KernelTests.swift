import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// The C kernels against double-precision libm, at every instruction-set level this CPU supports
/// (0 portable C, 1 AVX2, 2 AVX-512), so the fallbacks are checked as well as the fast paths.
@Suite struct KernelTests {
  static let levels = Array(0...Kernels.bestLevel)
  static let activations = HiddenActivationCase.allCases.flatMap { kind in levels.map { (kind, $0) } }

  // Tolerance: float rounding of the result plus a few ulp of approximation (abs 2e-7, rel 4e-6).
  @Test(arguments: activations)
  func activationsAreAccurate(kind: HiddenActivationCase, level: Int) {
    let inputs: [Float] =
      stride(from: -20.0, through: 20.0, by: 0.0137).map { Float($0) } + [0, 1e-5, -3e-4, 1e-30]
    var values = inputs
    values.withUnsafeMutableBufferPointer {
      Kernels.activate(Kernels.code(kind.activation), $0.baseAddress!, count: $0.count, level: level)
    }
    var failures = 0
    for (x, y) in zip(inputs, values) {
      let expected = Reference.activate(kind.activation, Double(x))
      if !Double(y).isApproximatelyEqual(to: expected, absoluteTolerance: 2e-7, relativeTolerance: 4e-6) {
        failures += 1
        if failures < 4 { Issue.record("\(kind)(\(x)) = \(y), expected \(expected) at level \(level)") }
      }
    }
    #expect(failures == 0)
    var nan: [Float] = [.nan, 1, .nan, 2, 3, 4, 5, 6, 7, .nan]
    nan.withUnsafeMutableBufferPointer {
      Kernels.activate(Kernels.code(kind.activation), $0.baseAddress!, count: $0.count, level: level)
    }
    if kind != .relu { #expect(nan[0].isNaN && nan[9].isNaN, "\(kind) must keep NaN at level \(level)") }
  }

  // Tolerance: abs 1e-5, rel 1e-6 of log Σ exp.
  @Test(arguments: levels)
  func logSumExpAndSoftmaxAreStable(level: Int) {
    var random = TestRandom(UInt64(level) + 1)
    let rows: [[Float]] = [
      (0..<1000).map { Float($0) * 0.01 }, [1000, 999, -1000], [-90, -100, -95], [0],
      (0..<37).map { -Float($0) },
      random.floats(10_007, scale: 30), [-200, 0, -150, -88, -87.5],
    ]
    for row in rows {
      let bias = random.floats(row.count, scale: 2)
      for withBias in [false, true] {
        let z = withBias ? zip(row, bias).map { Double($0) + Double($1) } : row.map(Double.init)
        let m = z.max()!
        let expected = m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +))
        let actual = row.withUnsafeBufferPointer { x in
          bias.withUnsafeBufferPointer { c in
            Kernels.logSumExp(
              x.baseAddress!, bias: withBias ? c.baseAddress! : nil, count: x.count, level: level)
          }
        }
        #expect(
          Double(actual).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-6),
          "level \(level), \(row.count) values, bias \(withBias): \(actual) vs \(expected)")
      }
      var softmax = row
      softmax.withUnsafeMutableBufferPointer {
        Kernels.softmax($0.baseAddress!, count: $0.count, level: level)
      }
      let reference = Reference.softmax(row.map(Double.init))
      for (p, q) in zip(softmax, reference) {
        #expect(
          Double(p).isApproximatelyEqual(to: q, absoluteTolerance: 1e-7, relativeTolerance: 1e-5),
          "softmax of \(row.prefix(5)) at level \(level)")
      }
    }
  }

  // Matrix-vector products in f32 and half, with row counts that are not multiples of 4 and
  // columns that are not multiples of 8; tolerance abs 1e-5, rel 1e-5 against a double sum.
  @Test(arguments: levels)
  func matrixVectorProducts(level: Int) {
    var random = TestRandom(99)
    for (m, n) in [(1, 1), (7, 13), (64, 256), (33, 100)] {
      let a = random.floats(m * n, scale: 1)
      let x = random.floats(n, scale: 1)
      let half = a.map { FloatCodec.floatToHalf($0) }
      let widened = half.map { FloatCodec.halfToFloat($0) }
      var y = [Float](repeating: .nan, count: m)
      var yh = [Float](repeating: .nan, count: m)
      var converted = [Float](repeating: .nan, count: m * n)
      a.withUnsafeBufferPointer { a in
        x.withUnsafeBufferPointer { x in
          y.withUnsafeMutableBufferPointer {
            Kernels.gemvF32(
              m: m, n: n, a: a.baseAddress!, x: x.baseAddress!, y: $0.baseAddress!, level: level)
          }
          half.withUnsafeBufferPointer { h in
            yh.withUnsafeMutableBufferPointer {
              Kernels.gemvHalf(
                m: m, n: n, a: h.baseAddress!, x: x.baseAddress!, y: $0.baseAddress!, level: level)
            }
            converted.withUnsafeMutableBufferPointer {
              Kernels.halfToFloat(h.baseAddress!, $0.baseAddress!, count: m * n, level: level)
            }
          }
        }
      }
      #expect(converted == widened, "half conversion at level \(level)")
      for r in 0..<m {
        let exact = (0..<n).map { Double(a[r * n + $0]) * Double(x[$0]) }.reduce(0, +)
        let exactHalf = (0..<n).map { Double(widened[r * n + $0]) * Double(x[$0]) }.reduce(0, +)
        #expect(
          Double(y[r]).isApproximatelyEqual(to: exact, absoluteTolerance: 1e-5, relativeTolerance: 1e-5))
        #expect(
          Double(yh[r]).isApproximatelyEqual(to: exactHalf, absoluteTolerance: 1e-5, relativeTolerance: 1e-5))
      }
    }
  }

  @Test func argmaxAndFiniteChecks() {
    let values: [Float] = [1, 5, 3, 5, -2]
    #expect(values.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: 5) } == 1)
    #expect(values.withUnsafeBufferPointer { Kernels.allFinite($0.baseAddress!, count: 5) })
    for bad: Float in [.nan, .infinity, -.infinity] {
      let row: [Float] = [1, 2, bad, 4]
      #expect(!row.withUnsafeBufferPointer { Kernels.allFinite($0.baseAddress!, count: 4) })
    }
  }
}

/// Hidden activations as a test argument.
enum HiddenActivationCase: String, CaseIterable, Sendable {
  case tanh, sigmoid, elu, silu, softplus, softsign, relu
  var activation: HiddenActivation { HiddenActivation(rawValue: rawValue)! }
}
