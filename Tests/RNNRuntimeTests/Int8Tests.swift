import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// The int8 products at every level this CPU runs (portable, AVX2, AVX-512 without and with VNNI)
/// against a float64 reference of the dequantized math, and the runtime with an int8 V.
@Suite struct Int8Tests {
  /// The configurations: each level, and at AVX-512 also with VNNI turned off.
  static let configurations: [(level: Int, features: Int)] =
    Kernels.levels.map { ($0, 0) } + [(Kernels.levels.last!, Kernels.vnniFeature)]

  static func name(_ level: Int, _ features: Int) -> String {
    Kernels.levelName(level) + (features & Kernels.vnniFeature != 0 ? "+vnni" : "")
  }

  /// Runs `body` at `level` with `features`; prints what this CPU cannot run instead of passing over it.
  static func run(_ level: Int, _ features: Int, _ body: () -> Void) -> Bool {
    var ran = false
    _ = Kernels.atLevel(level) {
      ran = Kernels.withFeatures(features) { body() }
    }
    if !ran { print("Int8Tests: int8 products NOT run at \(name(level, features)): this CPU cannot run it") }
    return ran
  }

  /// x quantized the way the kernels document it, in float64 (independently of the code under test):
  /// s = max|x|/127, q = round(x/s) ties to even.
  static func referenceQuantize(_ x: [Float]) -> (q: [Int], scale: Float) {
    let m = x.map { abs($0) }.max() ?? 0
    let scale = m / 127
    guard scale > 0 else { return (x.map { _ in 0 }, 0) }
    return (x.map { Int(min(127, max(-127, ($0 / scale).rounded(.toNearestOrEven)))) }, scale)
  }

  @Test func vectorQuantizationFollowsItsDefinition() {
    var random = TestRandom(5)
    let cases: [[Float]] = [
      random.floats(1030, scale: 3), [0, 0, 0], [1, -1, 0.5, -0.5, 2.5 / 127], [1e-30, -2e-30],
    ]
    for x in cases {
      var q = [Int8](repeating: 99, count: x.count)
      let scale = x.withUnsafeBufferPointer { x in
        q.withUnsafeMutableBufferPointer {
          Kernels.quantize(x.baseAddress!, count: x.count, into: $0.baseAddress!)
        }
      }
      let expected = Self.referenceQuantize(x)
      #expect(scale == expected.scale)
      #expect(q.map(Int.init) == expected.q, "\(x.prefix(5))")
    }
  }

  // Tolerance: the integer sums are exact, so only the final float rounding differs from float64:
  // relative 1e-6 (a few ulp), absolute 1e-6. And every configuration gives the same bits.
  @Test func productsMatchTheDequantizedMathOnEveryLevel() {
    let random = TestRandom(17)
    // Shapes with row and column tails, prefetched rows (m ≥ 12), and more than one int32 chunk (n > 32,768).
    let shapes = [(1, 1), (7, 13), (64, 256), (33, 100), (13, 67), (50, 1030), (5, 70_001)]
    var firstResults: [[Float]]?
    for (level, features) in Self.configurations {
      var results: [[Float]] = []
      let ran = Self.run(level, features) {
        var random = random
        for (m, n) in shapes {
          // Every byte value, -128 included, occurs in the matrix.
          let a = (0..<(m * n)).map { _ in Int8(truncatingIfNeeded: random.next()) }
          let scales = (0..<m).map { _ in abs(random.float(0.01)) }
          let bias = random.floats(m, scale: 1)
          // More vectors than one block of the matrix-matrix kernel (128) once.
          let vectors = m == 7 ? 130 : 3
          let x = random.floats(vectors * n, scale: 1.5)
          var xq = [Int8](repeating: 0, count: vectors * n)
          var xScales = [Float](repeating: 0, count: vectors)
          x.withUnsafeBufferPointer { x in
            xq.withUnsafeMutableBufferPointer { q in
              for i in 0..<vectors {
                xScales[i] = Kernels.quantize(x.baseAddress! + i * n, count: n, into: q.baseAddress! + i * n)
              }
            }
          }
          let sums = a.withUnsafeBufferPointer { Kernels.rowSums($0.baseAddress!, rows: m, cols: n) }
          var single = [Float](repeating: .nan, count: m)
          var unbiased = [Float](repeating: .nan, count: m)
          var many = [Float](repeating: .nan, count: vectors * m)
          a.withUnsafeBufferPointer { a in
            scales.withUnsafeBufferPointer { s in
              sums.withUnsafeBufferPointer { sums in
                xq.withUnsafeBufferPointer { xq in
                  bias.withUnsafeBufferPointer { c in
                    Kernels.gemvInt8Block(
                      m: m, n: n, a: a.baseAddress!, scales: s.baseAddress!, rowSums: sums.baseAddress!,
                      x: xq.baseAddress!, xScale: xScales[0], bias: c.baseAddress!, y: &single)
                    Kernels.gemvInt8Block(
                      m: m, n: n, a: a.baseAddress!, scales: s.baseAddress!, rowSums: sums.baseAddress!,
                      x: xq.baseAddress!, xScale: xScales[0], bias: nil, y: &unbiased)
                    xScales.withUnsafeBufferPointer { xs in
                      Kernels.gemmInt8Block(
                        m: m, n: n, a: a.baseAddress!, scales: s.baseAddress!, rowSums: sums.baseAddress!,
                        x: xq.baseAddress!, count: vectors, xScales: xs.baseAddress!, bias: c.baseAddress!,
                        c: &many, ldc: m)
                    }
                  }
                }
              }
            }
          }
          for i in 0..<vectors {
            for r in 0..<m {
              var d = 0
              for k in 0..<n { d += Int(a[r * n + k]) * Int(xq[i * n + k]) }
              let exact = Double(d) * Double(scales[r]) * Double(xScales[i])
              let actual = many[i * m + r]
              #expect(
                Double(actual).isApproximatelyEqual(
                  to: exact + Double(bias[r]), absoluteTolerance: 1e-6, relativeTolerance: 1e-6),
                "\(m)×\(n) vector \(i) row \(r) at \(Self.name(level, features)): \(actual) vs \(exact)")
              if i == 0 {
                #expect(single[r] == actual, "matrix-vector and matrix-matrix must agree bit for bit")
                #expect(
                  Double(unbiased[r]).isApproximatelyEqual(
                    to: exact, absoluteTolerance: 1e-6, relativeTolerance: 1e-6))
              }
            }
          }
          results.append(single + unbiased + many)
        }
      }
      guard ran else { continue }
      if let firstResults {
        #expect(results == firstResults, "\(Self.name(level, features)) differs from the portable level")
      } else {
        firstResults = results
      }
    }
  }

  /// Forward, scoring, sessions and greedy generation with an int8 V read as int8, against a float64
  /// reference of the same math: the runtime's hidden states (W is f32, so they are the f32 ones),
  /// each quantized as documented, times the dequantized V. Tolerance 1e-5 absolute on probabilities
  /// and log-probabilities (float rounding of the logits and of the softmax over O = 203).
  @Test func runtimeReadsInt8V() throws {
    let model = try TestModels.make(h: 37, x: 203, seed: 8, scale: 0.4)
    let loaded = try TestModels.stored(model, as: .i8)
    #expect(loaded.V.dtype == .i8 && loaded.W.dtype == .f32 && loaded.c.dtype == .f32)
    let runtime = try InferenceModel(loaded)
    #expect(runtime.outputWeightsAreInt8)
    let v = loaded.V.doubles()
    let c = loaded.c.doubles()
    let (h, o) = (37, 203)
    func referenceLogits(_ hidden: [Float]) -> [Double] {
      let (q, scale) = Self.referenceQuantize(hidden)
      return (0..<o).map { r in
        c[r] + (0..<h).map { v[r * h + $0] * Double(q[$0]) }.reduce(0, +) * Double(scale)
      }
    }
    let tokens = [0, 202, 7, 7, 19, 3, 130, 11, 64]
    let forward = try runtime.forward(tokens: tokens)
    for (t, hidden) in forward.hidden.enumerated() {
      expectClose(
        [forward.outputs[t]], [Reference.softmax(referenceLogits(hidden))], absolute: 1e-5, relative: 0,
        "step \(t)")
    }
    let score = try runtime.score(tokens: tokens)
    for t in 0..<(tokens.count - 1) {
      let expected = Reference.logSoftmax(referenceLogits(forward.hidden[t]))[tokens[t + 1]]
      #expect(
        Double(score.logProbabilities[t]).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5),
        "step \(t): \(score.logProbabilities[t]) vs \(expected)")
    }
    var session = InferenceSession(model: runtime)
    try session.advance(tokens: tokens)
    expectClose(
      [session.output()], [Reference.softmax(referenceLogits(forward.hidden.last!))], absolute: 1e-5,
      relative: 0,
      "session")

    // Greedy generation picks the reference's argmax at every step.
    let generated = try runtime.generate(
      prompt: tokens, options: GenerationOptions(maxTokens: 6, temperature: 0))
    let replay = try runtime.forward(tokens: tokens + generated)
    for (i, id) in generated.enumerated() {
      let z = referenceLogits(replay.hidden[tokens.count - 1 + i])
      #expect(id == z.indices.max { z[$0] < z[$1] }!, "generated token \(i)")
    }

    // Against the f32 model: the documented accuracy cost, here well inside 0.05 per probability.
    let f32 = try InferenceModel(model).forward(tokens: tokens)
    expectClose(forward.outputs, doubles(f32.outputs), absolute: 0.05, relative: 0, "int8 vs f32")
  }
}
