import Foundation
import Numerics
import RNNModel
import Testing

@testable import RNNRuntime

/// The vectorised C kernels against libm in double precision.
@Suite struct KernelTests {
  @Test(arguments: [HiddenActivationCase.tanh, .sigmoid, .elu, .silu, .softplus, .softsign, .relu])
  func activationsAreAccurate(kind: HiddenActivationCase) {
    var values: [Float] =
      stride(from: -20.0, through: 20.0, by: 0.0137).map { Float($0) } + [0, 1e-5, -3e-4, 1e-30]
    let inputs = values
    values.withUnsafeMutableBufferPointer {
      Kernels.activate(Kernels.code(kind.activation), $0.baseAddress!, count: $0.count)
    }
    for (x, y) in zip(inputs, values) {
      let expected = Reference.activate(kind.activation, Double(x))
      // Float rounding of the result plus a few ulp of approximation.
      #expect(
        Double(y).isApproximatelyEqual(to: expected, absoluteTolerance: 2e-7, relativeTolerance: 4e-6),
        "\(kind)(\(x)) = \(y), expected \(expected)")
    }
  }

  @Test func logSumExpIsStable() {
    let rows: [[Float]] = [
      (0..<1000).map { Float($0) * 0.01 }, [1000, 999, -1000], [-90, -100, -95], [0],
      (0..<37).map { -Float($0) },
    ]
    for row in rows {
      let m = Double(row.max()!)
      let expected = m + Foundation.log(row.map { Foundation.exp(Double($0) - m) }.reduce(0, +))
      let actual = row.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, count: $0.count) }
      #expect(
        Double(actual).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-6))
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

/// Activation cases as a test argument (the enum itself is not CustomTestStringConvertible).
enum HiddenActivationCase: String, CaseIterable, Sendable {
  case tanh, sigmoid, elu, silu, softplus, softsign, relu
  var activation: HiddenActivation { HiddenActivation(rawValue: rawValue)! }
}
