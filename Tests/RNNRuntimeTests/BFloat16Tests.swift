import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// The bfloat16 matrix-vector product at every level this CPU runs, and with AVX-512 BF16, against
/// float64 references: the widening levels against the stored weights times x; vdpbf16ps against
/// the stored weights times x rounded to bfloat16 (nearest even), which is what it computes.
@Suite struct BFloat16Tests {
  static func bfloat16(_ value: Float) -> UInt16 { FloatCodec.floatToBFloat16(value) }
  static func double(_ bits: UInt16) -> Double { Double(Float(bitPattern: UInt32(bits) << 16)) }

  // Tolerance: abs 1e-5, rel 1e-5 against the float64 sum (f32 sums of up to 1,030 products).
  @Test func matrixVectorProductOnEveryLevel() {
    var configurations = Kernels.levels.map { ($0, 0) }
    configurations.append((Kernels.levels.last!, Kernels.bfloat16Feature))
    for (level, features) in configurations {
      let dot = features != 0
      var ran = false
      _ = Kernels.atLevel(level) {
        ran = Kernels.withFeatures(features) {
          var random = TestRandom(31)
          for (m, n) in [(1, 1), (7, 13), (64, 256), (33, 100), (13, 67), (50, 1030)] {
            let a = random.floats(m * n, scale: 1).map(Self.bfloat16)
            let x = random.floats(n, scale: 1)
            let bias = random.floats(m, scale: 1)
            var y = [Float](repeating: .nan, count: m)
            var unbiased = [Float](repeating: .nan, count: m)
            a.withUnsafeBufferPointer { a in
              Kernels.gemvBFloat16(
                m: m, n: n, a: a.baseAddress!, x: x, bias: bias, y: &y, dot: dot, threaded: false)
              Kernels.gemvBFloat16(
                m: m, n: n, a: a.baseAddress!, x: x, bias: nil, y: &unbiased, dot: dot, threaded: false)
            }
            // What x is multiplied by: itself, or rounded to bfloat16 for vdpbf16ps.
            let used = x.map { dot ? Self.double(Self.bfloat16($0)) : Double($0) }
            for r in 0..<m {
              let exact = (0..<n).map { Self.double(a[r * n + $0]) * used[$0] }.reduce(0, +)
              let name = Kernels.levelName(level) + (dot ? "+bf16" : "")
              #expect(
                Double(y[r]).isApproximatelyEqual(
                  to: exact + Double(bias[r]), absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
                "\(m)×\(n) row \(r) at \(name): \(y[r]) vs \(exact + Double(bias[r]))")
              #expect(
                Double(unbiased[r]).isApproximatelyEqual(
                  to: exact, absoluteTolerance: 1e-5, relativeTolerance: 1e-5))
            }
          }
        }
      }
      if !ran {
        print(
          "BFloat16Tests: NOT run at \(Kernels.levelName(level))\(dot ? "+bf16" : ""): this CPU cannot run it"
        )
      }
    }
  }

  /// A bf16 V is read as bfloat16 (not widened to f32 at load): forward passes and sessions give
  /// exactly the result of a model whose V holds the same values in f32 (the same sums), and greedy
  /// generation (vdpbf16ps with AVX-512 BF16) picks the same tokens here.
  @Test func runtimeReadsBFloat16V() throws {
    let folder = try TestModels.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestModels.make(h: 45, x: 131, seed: 12, scale: 0.4)
    let path = folder.appendingPathComponent("bf16.rnn").path
    var stored = model
    stored.V = Parameter(model.V.floats(), shape: model.V.shape, dtype: .bf16)
    try stored.write(to: path)
    let loaded = try ElmanModel.load(path: path)
    let runtime = try InferenceModel(loaded)
    #expect(runtime.outputWeightsAreBFloat16)
    var widened = loaded
    widened.V = Parameter(loaded.V.floats(), shape: loaded.V.shape)
    let reference = try InferenceModel(widened)
    let tokens = [3, 130, 7, 7, 64, 0, 12]
    // Many rows: bf16 V is widened block by block into the same packed product as f32 V: exact.
    expectClose(
      try runtime.forward(tokens: tokens).outputs, doubles(try reference.forward(tokens: tokens).outputs),
      absolute: 0, relative: 0, "forward")
    var session = InferenceSession(model: runtime)
    try session.advance(tokens: tokens)
    var expected = InferenceSession(model: reference)
    try expected.advance(tokens: tokens)
    expectClose([session.output()], doubles([expected.output()]), absolute: 0, relative: 0, "session")
    let options = GenerationOptions(maxTokens: 5, temperature: 0)
    #expect(
      try runtime.generate(prompt: tokens, options: options)
        == reference.generate(prompt: tokens, options: options))
  }
}
