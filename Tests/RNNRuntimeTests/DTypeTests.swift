import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

@Suite struct DTypeTests {
  /// Writes the model in each dtype, loads it back (mapped) and compares with the in-memory f32 run.
  /// Tolerances: f32 and f64 exact to 1e-6; f16 (11-bit mantissa) 1e-2; bf16 (8-bit mantissa) 4e-2,
  /// absolute, for weights of size <= 0.3 and hidden size 37.
  @Test(arguments: [(DType.f32, 1e-6), (.f64, 1e-6), (.f16, 1e-2), (.bf16, 4e-2)])
  func storedDTypesGiveTheF32Result(dtype: DType, tolerance: Double) throws {
    // O = 4k + 3 rows exercises the four-row f16 kernel and its remainder.
    let model = try TestModels.make(h: 37, x: 43, seed: 21, scale: 0.3)
    let loaded = try TestModels.stored(model, as: dtype)
    #expect(loaded.V.dtype == dtype)
    let runtime = try InferenceModel(loaded)
    #expect(runtime.outputWeightsAreHalf == (dtype == .f16))
    let tokens = [0, 42, 7, 7, 19, 3, 30, 11]
    let expected = try InferenceModel(model).forward(tokens: tokens)
    let actual = try runtime.forward(tokens: tokens)
    expectClose(actual.hidden, doubles(expected.hidden), absolute: tolerance, relative: 0, "\(dtype) hidden")
    expectClose(
      actual.outputs, doubles(expected.outputs), absolute: tolerance, relative: 0, "\(dtype) outputs")

    // The single-row (generation) path reads V through the matrix-vector kernel.
    var session = InferenceSession(model: runtime)
    try session.advance(tokens: tokens)
    expectClose(
      [session.output()], doubles([expected.outputs.last!]), absolute: tolerance, relative: 0,
      "\(dtype) session")
  }

  /// An f16 file must give exactly the result of its own weights widened to f32 (so the on-the-fly
  /// conversion is exact), not merely something near the original f32 model.
  @Test func halfWeightsAreConvertedExactly() throws {
    let model = try TestModels.make(h: 45, x: 31, seed: 4, scale: 0.3)
    let loaded = try TestModels.stored(model, as: .f16)
    var widened = loaded
    widened.V = Parameter(loaded.V.floats(), shape: loaded.V.shape)
    let tokens = [1, 2, 30, 4, 0]
    let half = try InferenceModel(loaded).forward(tokens: tokens)
    let wide = try InferenceModel(widened).forward(tokens: tokens)
    expectClose(half.outputs, doubles(wide.outputs), absolute: 1e-6, relative: 1e-5, "f16 vs widened")
    let reference = Reference(loaded).run(tokens: tokens)
    expectClose(half.outputs, reference.outputs, "f16 vs double reference of the f16 weights")
  }
}
