import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// `logits(hidden:rows:into:addBias:)` on one row and on many, with V in f32 and in f16.
@Suite struct LogitsTests {
  /// Without the bias, one row (the matrix-vector kernels) must give V·h, like many rows (the
  /// matrix products) do; with it, V·h + c. Tolerance abs 1e-5, rel 1e-5 against float64.
  @Test(arguments: [DType.f32, .f16])
  func addBiasIsHonouredForOneRowAndForMany(dtype: DType) throws {
    let loaded = try TestModels.stored(TestModels.make(h: 19, x: 23, seed: 8, scale: 0.5), as: dtype)
    let runtime = try InferenceModel(loaded)
    #expect(runtime.outputWeightsAreHalf == (dtype == .f16))
    let reference = Reference(loaded)
    let (h, o) = (runtime.hiddenSize, runtime.outputSize)
    var random = TestRandom(5)
    let hidden = random.floats(3 * h, scale: 1)
    for rows in [1, 3] {
      for addBias in [false, true] {
        var out = [Float](repeating: .nan, count: rows * o)
        hidden.withUnsafeBufferPointer { hs in
          out.withUnsafeMutableBufferPointer {
            runtime.logits(hidden: hs.baseAddress!, rows: rows, into: $0.baseAddress!, addBias: addBias)
          }
        }
        for r in 0..<rows {
          for i in 0..<o {
            let product = (0..<h).map { reference.v[i * h + $0] * Double(hidden[r * h + $0]) }.reduce(0, +)
            let expected = product + (addBias ? reference.c[i] : 0)
            #expect(
              Double(out[r * o + i]).isApproximatelyEqual(
                to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
              "\(dtype), \(rows) row(s), addBias \(addBias): z[\(r)][\(i)] = \(out[r * o + i]), expected \(expected)"
            )
          }
        }
      }
    }
  }
}
