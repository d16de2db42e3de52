import CKernels
import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// Every C kernel at every instruction-set level (portable, AVX2, AVX-512), each forced on the
/// test's thread, against a scalar float64 reference. A level this CPU cannot run is named in the
/// output, not silently passed over.
@Suite struct KernelTests {
  static let levels = Array(Kernels.levels)
  static let activations = HiddenActivationCase.allCases.flatMap { kind in levels.map { (kind, $0) } }

  /// Runs `body` at `level`, checking that the kernels really run there; prints the level when the
  /// CPU cannot run it.
  static func atLevel(_ level: Int, _ what: String, _ body: () throws -> Void) rethrows {
    let ran = try Kernels.atLevel(level) {
      #expect(Kernels.currentLevel == level, "the kernels did not switch to level \(level)")
      try body()
    }
    if !ran {
      print("KernelTests: \(what) NOT run at level \(Kernels.levelName(level)): this CPU cannot run it")
    }
  }

  @Test func levelsThisCPUCanRun() {
    let cpu = Kernels.cpuLevel
    let run = Self.levels.filter { $0 <= cpu }.map(Kernels.levelName)
    let skipped = Self.levels.filter { $0 > cpu }.map(Kernels.levelName)
    print(
      "KernelTests: levels run: \(run.joined(separator: ", ")); not run (CPU lacks them): "
        + (skipped.isEmpty ? "none" : skipped.joined(separator: ", ")))
    #expect(Kernels.currentLevel == cpu, "without forcing, the kernels run at the CPU's level")
    #expect(!Kernels.atLevel(cpu + 1) {}, "a level above the CPU's must be refused")
    #expect(Kernels.currentLevel == cpu)
  }

  // Tolerance: float rounding of the result plus a few ulp of approximation (abs 2e-7, rel 4e-6).
  @Test(arguments: activations)
  func activationsAreAccurate(kind: HiddenActivationCase, level: Int) {
    Self.atLevel(level, "activation \(kind)") {
      // Lengths that leave tails after each vector width.
      let inputs: [Float] =
        stride(from: -20.0, through: 20.0, by: 0.0137).map { Float($0) } + [
          0, 1e-5, -3e-4, 1e-30, -0.0, 7.9, -9,
        ]
      var values = inputs
      values.withUnsafeMutableBufferPointer {
        Kernels.activate(Kernels.code(kind.activation), $0.baseAddress!, count: $0.count)
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
      var nan: [Float] = [.nan, 1, .nan, 2, 3, 4, 5, 6, 7, .nan, 1, 2, 3, 4, 5, 6, 7, .nan]
      nan.withUnsafeMutableBufferPointer {
        Kernels.activate(Kernels.code(kind.activation), $0.baseAddress!, count: $0.count)
      }
      if kind != .relu {
        #expect(nan[0].isNaN && nan[9].isNaN && nan[17].isNaN, "\(kind) must keep NaN at level \(level)")
      }
    }
  }

  // Tolerance: abs 1e-5, rel 1e-6 of log Σ exp (float32 sums of up to 10,007 terms); softmax abs 1e-7,
  // rel 1e-5 per probability.
  @Test(arguments: levels)
  func logSumExpAndSoftmaxAreStable(level: Int) {
    Self.atLevel(level, "log-sum-exp and softmax") {
      var random = TestRandom(UInt64(level) + 1)
      let rows: [[Float]] = [
        (0..<1000).map { Float($0) * 0.01 }, [1000, 999, -1000], [-90, -100, -95], [0],
        (0..<37).map { -Float($0) }, (0..<65).map { Float($0 % 7) }, random.floats(15, scale: 3),
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
              Kernels.logSumExp(x.baseAddress!, bias: withBias ? c.baseAddress! : nil, count: x.count)
            }
          }
          #expect(
            Double(actual).isApproximatelyEqual(
              to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-6),
            "level \(level), \(row.count) values, bias \(withBias): \(actual) vs \(expected)")
        }
        var softmax = row
        softmax.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: $0.count) }
        let reference = Reference.softmax(row.map(Double.init))
        for (p, q) in zip(softmax, reference) {
          #expect(
            Double(p).isApproximatelyEqual(to: q, absoluteTolerance: 1e-7, relativeTolerance: 1e-5),
            "softmax of \(row.prefix(5)) at level \(level)")
        }
      }
      // A NaN anywhere gives NaN; a row of -inf gives -inf.
      for count in [3, 40] {
        for position in [0, count / 2, count - 1] {
          var row = [Float](repeating: -.infinity, count: count)
          row[position] = .nan
          #expect(row.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, count: count) }.isNaN)
          row = [Float](repeating: 1, count: count)
          row[position] = .nan
          #expect(row.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, count: count) }.isNaN)
        }
        let negative = [Float](repeating: -.infinity, count: count)
        #expect(
          negative.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, count: count) } == -.infinity)
      }
    }
  }

  // Matrix-vector products in f32 (beta 0 and 0.5) and half (with and without bias), with columns
  // that are not multiples of any vector width (or of four vectors, one pass of the loop);
  // tolerance abs 1e-5, rel 1e-5 against a float64 sum.
  @Test(arguments: levels)
  func matrixVectorProducts(level: Int) {
    Self.atLevel(level, "matrix-vector products") {
      var random = TestRandom(99)
      for (m, n) in [(1, 1), (7, 13), (64, 256), (33, 100), (13, 67), (50, 1030)] {
        let a = random.floats(m * n, scale: 1)
        let x = random.floats(n, scale: 1)
        let start = random.floats(m, scale: 1)
        let bias = random.floats(m, scale: 1)
        let half = a.map { FloatCodec.floatToHalf($0) }
        let widened = half.map { Self.halfToDouble($0) }
        var y = [Float](repeating: .nan, count: m)
        var yBeta = start
        var yh = [Float](repeating: .nan, count: m)
        var yhBias = [Float](repeating: .nan, count: m)
        a.withUnsafeBufferPointer { a in
          x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer {
              Kernels.gemvF32(m: m, n: n, a: a.baseAddress!, x: x.baseAddress!, y: $0.baseAddress!)
            }
            yBeta.withUnsafeMutableBufferPointer {
              Kernels.gemvF32(m: m, n: n, a: a.baseAddress!, x: x.baseAddress!, beta: 0.5, y: $0.baseAddress!)
            }
            half.withUnsafeBufferPointer { h in
              yh.withUnsafeMutableBufferPointer {
                Kernels.gemvF16(m: m, n: n, a: h.baseAddress!, x: x.baseAddress!, y: $0.baseAddress!)
              }
              bias.withUnsafeBufferPointer { c in
                yhBias.withUnsafeMutableBufferPointer {
                  Kernels.gemvF16(
                    m: m, n: n, a: h.baseAddress!, x: x.baseAddress!, bias: c.baseAddress!, y: $0.baseAddress!
                  )
                }
              }
            }
          }
        }
        for r in 0..<m {
          let exact = (0..<n).map { Double(a[r * n + $0]) * Double(x[$0]) }.reduce(0, +)
          let exactHalf = (0..<n).map { widened[r * n + $0] * Double(x[$0]) }.reduce(0, +)
          let checks: [(String, Float, Double)] = [
            ("f32", y[r], exact), ("f32 beta 0.5", yBeta[r], 0.5 * Double(start[r]) + exact),
            ("f16", yh[r], exactHalf), ("f16 + bias", yhBias[r], exactHalf + Double(bias[r])),
          ]
          for (name, actual, expected) in checks {
            #expect(
              Double(actual).isApproximatelyEqual(
                to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
              "\(name) \(m)×\(n) row \(r) at level \(level): \(actual) vs \(expected)")
          }
        }
      }
    }
  }

  /// A row's product is computed the same way whatever the prefetch distance and whichever rows a
  /// call covers (as when rows are split across threads): the results are bit for bit equal.
  @Test(arguments: levels)
  func matrixVectorProductsDependOnNeitherPrefetchNorRowSplit(level: Int) {
    Self.atLevel(level, "matrix-vector products with prefetching and split rows") {
      var random = TestRandom(7)
      let (m, n) = (61, 1030)
      let a = random.floats(m * n, scale: 1)
      let x = random.floats(n, scale: 1)
      let half = a.map { FloatCodec.floatToHalf($0) }
      func products(distance: Int, from first: Int) -> (f32: [Float], f16: [Float]) {
        var y = [Float](repeating: .nan, count: m - first)
        var yh = y
        Kernels.withPrefetchDistance(distance) {
          a.withUnsafeBufferPointer { a in
            x.withUnsafeBufferPointer { x in
              y.withUnsafeMutableBufferPointer {
                Kernels.gemvF32(
                  m: m - first, n: n, a: a.baseAddress! + first * n, x: x.baseAddress!, y: $0.baseAddress!)
              }
              half.withUnsafeBufferPointer { h in
                yh.withUnsafeMutableBufferPointer {
                  Kernels.gemvF16(
                    m: m - first, n: n, a: h.baseAddress! + first * n, x: x.baseAddress!, y: $0.baseAddress!)
                }
              }
            }
          }
        }
        return (y, yh)
      }
      let reference = products(distance: 0, from: 0)
      for distance in [64, 256, 4096, 100_000] {
        let other = products(distance: distance, from: 0)
        #expect(other.f32 == reference.f32, "f32, distance \(distance), level \(level)")
        #expect(other.f16 == reference.f16, "f16, distance \(distance), level \(level)")
      }
      for first in [1, 3, 30] {
        let other = products(distance: 0, from: first)
        #expect(other.f32 == Array(reference.f32[first...]), "f32 from row \(first), level \(level)")
        #expect(other.f16 == Array(reference.f16[first...]), "f16 from row \(first), level \(level)")
      }
    }
  }

  /// The distance kept is the shortest whose median time is within 2% of the fastest median (in a
  /// later round, the one kept before while it is within 2%): not
  /// the one with the luckiest call (a read without prefetching can have a best call as fast as
  /// with, and a median 1.2 times slower), and not swayed by one preempted call or a failed clock.
  @Test func prefetchDistanceIsChosenByMedians() {
    /// The chosen index for per-distance times of the timed calls (six each).
    func choose(_ times: [[Int]], keeping kept: Int? = nil) -> Int {
      let t = times.map { $0.count == 1 ? Array(repeating: $0[0], count: 6) : $0 }
      var table = (
        (t[0][0], t[0][1], t[0][2], t[0][3], t[0][4], t[0][5]),
        (t[1][0], t[1][1], t[1][2], t[1][3], t[1][4], t[1][5]),
        (t[2][0], t[2][1], t[2][2], t[2][3], t[2][4], t[2][5]),
        (t[3][0], t[3][1], t[3][2], t[3][3], t[3][4], t[3][5])
      )
      return withUnsafePointer(to: &table) {
        $0.withMemoryRebound(to: (Int, Int, Int, Int, Int, Int).self, capacity: 4) { rows in
          if let kept { return Int(rk_rechoose_prefetch_distance(rows, Int32(kept))) }
          return Int(rk_choose_prefetch_distance(rows))
        }
      }
    }
    #expect(Int(RK_PREFETCH_DISTANCES) == 4 && Int(RK_PREFETCH_TRIALS) == 6)
    // Distance 0 has the best single call, but its median is 1.2 times the others'.
    #expect(choose([[7_900, 9_800, 9_900, 9_700, 9_850, 9_750], [9_000], [8_100], [8_150]]) == 2)
    // Within 2% of the fastest median, the shortest distance wins.
    #expect(choose([[8_150], [8_000], [8_100], [8_300]]) == 0)
    #expect(choose([[8_300], [8_150], [8_000], [8_100]]) == 1)
    // One preempted call does not spoil a distance's median.
    #expect(choose([[8_000, 8_000, 50_000, 8_000, 8_000, 8_000], [9_000], [9_000], [9_000]]) == 0)
    // A failed clock (0) is left out; a distance with no time at all is never chosen.
    #expect(choose([[0], [9_000, 0, 9_000, 9_000, 0, 0], [8_000], [8_000]]) == 2)
    #expect(choose([[0], [0], [0], [0]]) == 0)
    // A later round keeps the distance chosen before while it is within 2% of the fastest (a busy
    // machine that slows every distance alike does not hand the choice to the shortest), and
    // changes it when it is clearly slower.
    #expect(choose([[8_150], [8_000], [8_100], [8_050]], keeping: 3) == 3)
    #expect(choose([[8_000], [8_000], [8_000], [8_000]], keeping: 2) == 2)
    #expect(choose([[8_000], [9_000], [9_000], [12_800]], keeping: 3) == 0)
    #expect(choose([[8_150], [8_000], [8_100], [8_300]], keeping: -1) == 0)
  }

  /// The first large products measure the prefetch distances and settle on one of them, and
  /// measure them again 64 products later; the products' results stay the same through the
  /// measurements and after them.
  @Test func prefetchCalibrationSettlesWithoutChangingResults() {
    // From the start: other tests' large products may have calibrated already.
    rk_restart_prefetch_calibration()
    // 8 MiB of f32 and of half: the size from which products are timed.
    let (m, n) = (2048, 1024)
    var random = TestRandom(11)
    let a = random.floats(m * n, scale: 1)
    let x = random.floats(n, scale: 1)
    let half = (a + a).map { FloatCodec.floatToHalf($0) }
    func product(_ isHalf: Bool) -> [Float] {
      var y = [Float](repeating: .nan, count: isHalf ? 2 * m : m)
      x.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { y in
          if isHalf {
            half.withUnsafeBufferPointer {
              Kernels.gemvF16(m: 2 * m, n: n, a: $0.baseAddress!, x: x.baseAddress!, y: y.baseAddress!)
            }
          } else {
            a.withUnsafeBufferPointer {
              Kernels.gemvF32(m: m, n: n, a: $0.baseAddress!, x: x.baseAddress!, y: y.baseAddress!)
            }
          }
        }
      }
      return y
    }
    for isHalf in [false, true] {
      var expected: [Float] = []
      Kernels.withPrefetchDistance(0) { expected = product(isHalf) }
      // Four distances, two runs of four calls each; 40 calls also cover products other tests time
      // meanwhile.
      for call in 0..<40 {
        let y = product(isHalf)
        if y != expected {
          Issue.record("half \(isHalf): call \(call) differs from the product without prefetching")
          break
        }
      }
      let chosen = Kernels.prefetchDistance(half: isHalf)
      #expect(chosen != nil, "half \(isHalf): no distance chosen after 40 large products")
      #expect(rk_gemv_prefetch_rounds(isHalf ? 1 : 0) >= 1)
      // 64 products after the first choice, a second round of 32 trial calls.
      for call in 0..<96 where product(isHalf) != expected {
        Issue.record("half \(isHalf): call \(40 + call) differs from the product without prefetching")
        break
      }
      #expect(
        rk_gemv_prefetch_rounds(isHalf ? 1 : 0) >= 2, "half \(isHalf): no second round after 136 products")
      print(
        "KernelTests: prefetch distance chosen for \(isHalf ? "half" : "f32") matrices: \(chosen ?? -1) bytes"
      )
    }
  }

  /// Every one of the 65,536 half values, widened exactly (NaN stays NaN).
  @Test(arguments: levels)
  func halfConversionIsExact(level: Int) {
    Self.atLevel(level, "half conversion") {
      let all = (0...UInt16.max).map { $0 }
      var converted = [Float](repeating: 0, count: all.count)
      all.withUnsafeBufferPointer { source in
        converted.withUnsafeMutableBufferPointer {
          Kernels.halfToFloat(source.baseAddress!, $0.baseAddress!, count: source.count)
        }
      }
      var failures = 0
      for (bits, value) in zip(all, converted) {
        let expected = Self.halfToDouble(bits)
        let same = expected.isNaN ? value.isNaN : (Double(value) == expected && value.sign == expected.sign)
        if !same {
          failures += 1
          if failures < 4 {
            Issue.record("half 0x\(String(bits, radix: 16)) → \(value), expected \(expected)")
          }
        }
      }
      #expect(failures == 0, "at level \(level)")
    }
  }

  /// The argmax at every level against a scalar reference: the first of equal maxima, NaN skipped,
  /// -inf found when nothing is larger, 0 when every element is NaN; lengths around each vector width.
  @Test(arguments: levels)
  func argmaxFindsTheFirstLargest(level: Int) {
    Self.atLevel(level, "argmax") {
      func reference(_ x: [Float]) -> Int {
        var best: Int?
        for i in x.indices where !x[i].isNaN && (best == nil || x[i] > x[best!]) { best = i }
        return best ?? 0
      }
      var random = TestRandom(5)
      var failures = 0
      for trial in 0..<3000 {
        let n = 1 + random.int(140)
        let x: [Float] = (0..<n).map { _ in
          let r = random.int(100)
          switch trial % 5 {
          case 0: return Float(random.int(4))  // many ties
          case 1: return r < 30 ? .nan : Float(random.int(6))
          case 2: return r < 50 ? -.infinity : .nan
          case 3: return .nan
          default: return r < 3 ? .infinity : random.float(1)
          }
        }
        let actual = x.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: n) }
        if actual != reference(x) {
          failures += 1
          if failures < 4 {
            Issue.record("argmax of \(x) = \(actual), expected \(reference(x)) at level \(level)")
          }
        }
      }
      #expect(failures == 0)
    }
  }

  // The reversed matrix-vector product gives the forward one's bits, for shapes with ragged rows
  // and columns, in L2 (several rows at a time, in blocks of one or many rows' groups, the last
  // block partial) and beyond half of it (one row at a time), beta 0 and 1.
  @Test(arguments: levels)
  func reversedMatrixVectorProductIsTheSame(level: Int) {
    Self.atLevel(level, "reversed matrix-vector product") {
      var random = TestRandom(19)
      let large = Kernels.cacheSize(2) / 4 / 300 + 7
      for (m, n) in [(1, 1), (7, 33), (61, 1030), (203, 64), (large, 300)] {
        let a = random.floats(m * n, scale: 1)
        let x = random.floats(n, scale: 1)
        let start = random.floats(m, scale: 1)
        for beta: Float in [0, 1] {
          var forward = start
          var backward = start
          a.withUnsafeBufferPointer { a in
            x.withUnsafeBufferPointer { x in
              forward.withUnsafeMutableBufferPointer {
                Kernels.gemvF32(
                  m: m, n: n, a: a.baseAddress!, x: x.baseAddress!, beta: beta, y: $0.baseAddress!)
              }
              backward.withUnsafeMutableBufferPointer {
                Kernels.gemvF32(
                  m: m, n: n, a: a.baseAddress!, x: x.baseAddress!, beta: beta, y: $0.baseAddress!,
                  reversed: true)
              }
            }
          }
          #expect(forward == backward, "\(m)×\(n), beta \(beta), level \(level)")
        }
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

  // The finite check in its vector loop and its tail: one bad value at every position of rows of
  // lengths around the 16 lanes, and rows of extreme finite values (±max, subnormals, -0).
  @Test func finiteCheckSeesEveryPosition() {
    for n in [1, 15, 16, 17, 33, 40] {
      let finite = (0..<n).map { i -> Float in
        [Float.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 1][i % 5]
      }
      #expect(finite.withUnsafeBufferPointer { Kernels.allFinite($0.baseAddress!, count: n) }, "length \(n)")
      for position in 0..<n {
        for bad: Float in [.nan, .infinity, -.infinity] {
          var row = finite
          row[position] = bad
          #expect(
            !row.withUnsafeBufferPointer { Kernels.allFinite($0.baseAddress!, count: n) },
            "\(bad) at \(position) of \(n)")
        }
      }
    }
  }

  /// An IEEE half, decoded in float64 from its fields (independently of the code under test).
  static func halfToDouble(_ bits: UInt16) -> Double {
    let sign: Double = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = Double(bits & 0x3FF)
    switch exponent {
    case 0: return sign * mantissa * 0x1p-24
    case 31: return mantissa == 0 ? sign * .infinity : .nan
    default:
      return sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }
  }
}

/// Hidden activations as a test argument.
enum HiddenActivationCase: String, CaseIterable, Sendable {
  case tanh, sigmoid, elu, silu, softplus, softsign, relu
  var activation: HiddenActivation { HiddenActivation(rawValue: rawValue)! }
}
