import CKernels
import Foundation
import Numerics
import RNNModel
import Testing

@testable import RNNRuntime

/// The packed int8 product (`i8_packed.h`, every variant) against the int8 matrix-matrix kernel bit
/// for bit, and int8 scoring with it against the previous path (whole rows of logits, then their
/// log-sum-exp) and a float64 log-sum-exp of the same logits.
@Suite struct Int8PackedTests {
  /// The configurations that select a variant of the packed product: AVX-512 with VNNI (zmm),
  /// AVX-VNNI (ymm) at the AVX2 level and at the AVX-512 level without AVX-512 VNNI, and the
  /// widening variants of CPUs with neither VNNI: int16 products on zmm (AVX-512BW) and on ymm (AVX2).
  static let configurations: [(level: Int, features: Int, variant: Int32, name: String)] = [
    (Int(RK_LEVEL_AVX512), Kernels.vnniFeature, Int32(RK_I8P_AVX512), "avx512+vnni"),
    (Int(RK_LEVEL_AVX2), Int(RK_FEATURE_AVX_VNNI), Int32(RK_I8P_AVX_VNNI), "avx2+avx-vnni"),
    (Int(RK_LEVEL_AVX512), Int(RK_FEATURE_AVX_VNNI), Int32(RK_I8P_AVX_VNNI), "avx512+avx-vnni"),
    (Int(RK_LEVEL_AVX512), 0, Int32(RK_I8P_AVX512BW), "avx512 without vnni"),
    (Int(RK_LEVEL_AVX2), 0, Int32(RK_I8P_AVX2), "avx2 without vnni"),
  ]

  /// Runs `body` with each variant of the packed product this CPU runs, at its level and features
  /// on this thread; names the ones it cannot run.
  static func forEachVariant(_ test: String, _ body: (Int32, String) throws -> Void) throws {
    for (level, features, variant, name) in configurations {
      var selected = Int32(RK_I8P_NONE)
      var failure: (any Error)?
      let ran = Kernels.atLevel(level) {
        _ = Kernels.withFeatures(features) {
          selected = Kernels.packedInt8Variant
          guard selected == variant else { return }
          do { try body(variant, name) } catch { failure = error }
        }
      }
      if let failure { throw failure }
      if !ran || selected != variant {
        print("Int8PackedTests: \(test) NOT run at \(name): this CPU cannot run it")
      }
    }
  }

  // The variants are selected by forcing a level and features per thread, sometimes nested (the
  // scoring test's previous path): the inner setting must give the outer one back.
  @Test func forcedLevelsAndFeaturesNestAndRestore() {
    let portable = Int(RK_LEVEL_PORTABLE)
    var (inner, levelAfterInner, featuresInside) = (-1, -1, Int32(-1))
    let ran = Kernels.atLevel(portable) {
      #expect(Kernels.packedInt8Variant == Int32(RK_I8P_NONE))
      let innerRan = Kernels.atLevel(Kernels.cpuLevel) { inner = Kernels.currentLevel }
      levelAfterInner = Kernels.currentLevel
      let featuresRan = Kernels.withFeatures(0) { featuresInside = rk_features() }
      #expect(innerRan && featuresRan)
    }
    #expect(inner == Kernels.cpuLevel && levelAfterInner == portable && featuresInside == 0)
    #expect(ran)
    #expect(Kernels.currentLevel == Kernels.cpuLevel)
    #expect(Int(rk_thread_forced_level()) == -1 && Int(rk_thread_forced_features()) == -1)
    // The process-wide setting refuses what the CPU lacks, changing nothing.
    #expect(rk_force_process_level(Int32(RK_LEVEL_COUNT), -1) == 0)
    #expect(rk_force_process_level(-1, 1 << 20) == 0)
    #expect(Kernels.currentLevel == Kernels.cpuLevel && Int(rk_features()) == Kernels.cpuFeatures)
  }

  /// Logits of `vectors` random hidden states (length n) against a random int8 V (m×n, every byte
  /// value, -128 included), by the packed product over `parts` column ranges and by rk_gemm_i8.
  static func logits(m: Int, n: Int, vectors: Int, parts: Int, bias: Bool, seed: UInt64, variant: Int32) -> (
    packed: [Float], reference: [Float]
  ) {
    var random = TestRandom(seed)
    let a = (0..<(m * n)).map { _ in Int8(truncatingIfNeeded: random.next()) }
    let scales = (0..<m).map { _ in abs(random.float(0.01)) }
    let c = random.floats(m, scale: 1)
    let x = random.floats(vectors * n, scale: 1.5)
    // The reference: each vector quantized, then the matrix-matrix kernel of every level.
    var xq = [Int8](repeating: 0, count: vectors * n)
    var xScales = [Float](repeating: 0, count: vectors)
    for i in 0..<vectors {
      xScales[i] = Kernels.quantize(
        x.withUnsafeBufferPointer { $0.baseAddress! + i * n }, count: n, into: &xq[i * n])
    }
    let sums = Kernels.rowSums(a, rows: m, cols: n)
    var reference = [Float](repeating: .nan, count: vectors * m)
    c.withUnsafeBufferPointer { c in
      Kernels.gemmInt8Block(
        m: m, n: n, a: a, scales: scales, rowSums: sums, x: xq, count: vectors, xScales: xScales,
        bias: bias ? c.baseAddress! : nil, c: &reference, ldc: m)
    }
    let v = PackedInt8Matrix(rows: m, k: n, variant: variant) { body in
      a.withUnsafeBufferPointer { a in
        scales.withUnsafeBufferPointer { body(a.baseAddress!, $0.baseAddress!) }
      }
    }
    let rows = PackedInt8Rows(rows: vectors, k: n, variant: variant)
    #expect(x.withUnsafeBufferPointer { rows.pack($0.baseAddress!, rows: vectors, k: n) })
    var packed = [Float](repeating: .nan, count: vectors * m)
    packed.withUnsafeMutableBufferPointer { out in
      c.withUnsafeBufferPointer { c in
        for part in 0..<parts {
          let columns = InferenceModel.columns(
            part: part, of: parts, total: m, panel: Kernels.int8PanelRows(variant).v)
          guard !columns.isEmpty else { continue }
          rk_i8p_logits(
            variant, vectors, n, rows.bytes, rows.sums, rows.scales, v.bytes, v.scales,
            bias ? c.baseAddress! : nil,
            columns.lowerBound, columns.upperBound, out.baseAddress! + columns.lowerBound, m)
        }
      }
    }
    return (packed, reference)
  }

  // Exact integer sums and the same rounding steps: the same bits as rk_gemm_i8, no tolerance.
  @Test func packedProductEqualsTheMatrixMatrixKernelBitForBit() throws {
    try Self.forEachVariant("packedProductEqualsTheMatrixMatrixKernelBitForBit") { variant, name in
      // Rows not a multiple of the panel (32 or 16) and columns not of 4 or 64; one row of V, one
      // hidden state, more than one panel of hidden states (14 or 6), and more than one 32-bit
      // chunk (n > 32,768 columns).
      let shapes: [(m: Int, n: Int, vectors: Int)] = [
        (1, 1, 1), (1, 37, 20), (7, 13, 130), (33, 100, 15), (203, 37, 29), (64, 256, 14), (50, 1030, 3),
        (301, 67, 200), (5, 70_001, 3), (40, 32_771, 15),
      ]
      for (index, shape) in shapes.enumerated() {
        for parts in [1, 2, 3] {
          for bias in [false, true] {
            let (packed, reference) = Self.logits(
              m: shape.m, n: shape.n, vectors: shape.vectors, parts: parts, bias: bias,
              seed: UInt64(40 + index), variant: variant)
            let differing = zip(packed, reference).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(
              differing == 0,
              "\(name): \(shape.m)×\(shape.n), \(shape.vectors) vectors, \(parts) parts, bias \(bias): \(differing) differ"
            )
          }
        }
      }
    }
  }

  /// A model with int8 V: H = 37 (not a multiple of 4), O = 203 (not a multiple of the panel).
  static func model(h: Int = 37, x: Int = 203, seed: UInt64 = 8) throws -> InferenceModel {
    let model = try TestModels.make(h: h, x: x, seed: seed, scale: 0.4)
    return try InferenceModel(try TestModels.stored(model, as: .i8))
  }

  /// Tolerance: the logits are the same bits; the log-sum-exp differs from float64 by the f32 sum
  /// of O terms (each exp within about 1.3 ulp, merged per block): 2e-5 absolute for O ≤ 1,000,
  /// log-sum-exps of magnitude ≤ 10.
  static let tolerance = 2e-5

  @Test func scoringWithThePackedProductMatchesThePreviousPathAndFloat64() throws {
    try Self.forEachVariant("scoringWithThePackedProductMatchesThePreviousPathAndFloat64") { variant, name in
      for (h, o, seed) in [(37, 203, UInt64(8)), (64, 1000, 9), (3, 33, 10)] {
        let runtime = try Self.model(h: h, x: o, seed: seed)
        #expect(runtime.outputWeightsAreInt8)
        var random = TestRandom(seed)
        let batch = (0..<5).map { s in
          (0..<(s == 0 ? 2 : 20 + 7 * s)).map { _ in Int(random.next() % UInt64(o)) }
        }
        let states = try runtime.hiddenStates(tokens: batch)
        var targets = [Int](repeating: -1, count: states.totalRows)
        for (s, sequence) in batch.enumerated() {
          for t in 0..<(sequence.count - 1) { targets[states.offsets[s] + t] = sequence[t + 1] }
        }
        // The previous path: whole rows of logits by rk_gemm_i8 (the portable level on this thread
        // turns the packed product off; every level's rk_gemm_i8 gives the same bits), then each
        // row's log-sum-exp.
        var previous = [Float](repeating: 0, count: states.totalRows)
        var packedAtPortable = true
        let ran = Kernels.atLevel(Int(RK_LEVEL_PORTABLE)) {
          packedAtPortable = Kernels.packedInt8Available
          runtime.scoreRows(states, targets: targets, blockFloats: 1 << 20, into: &previous)
        }
        #expect(ran && !packedAtPortable)
        // Forcing and restoring the portable level left this thread on the variant under test.
        #expect(Kernels.packedInt8Variant == variant, "\(name): variant after the previous path")
        // The same logits by rk_gemm_i8, their log-sum-exp in float64. Forward passes over many rows
        // take the packed product too: its logits, with and without c, are the same bits.
        let count = states.totalRows * o
        var (logits, biased) = ([Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
        var (packed, packedBiased) = (
          [Float](repeating: .nan, count: count), [Float](repeating: .nan, count: count)
        )
        let gemmRan = Kernels.atLevel(Int(RK_LEVEL_PORTABLE)) {
          runtime.logits(hidden: states.rows, rows: states.totalRows, into: &logits, addBias: false)
          runtime.logits(hidden: states.rows, rows: states.totalRows, into: &biased, addBias: true)
        }
        #expect(gemmRan)
        runtime.logits(hidden: states.rows, rows: states.totalRows, into: &packed, addBias: false)
        runtime.logits(hidden: states.rows, rows: states.totalRows, into: &packedBiased, addBias: true)
        #expect(packed.map(\.bitPattern) == logits.map(\.bitPattern), "\(name): packed logits")
        #expect(packedBiased.map(\.bitPattern) == biased.map(\.bitPattern), "\(name): packed logits + c")
        let c = runtime.outputBias
        var reference = [Double](repeating: 0, count: states.totalRows)
        for r in 0..<states.totalRows where targets[r] >= 0 {
          let z = (0..<o).map { Double(logits[r * o + $0] + c[$0]) }
          let m = z.max()!
          reference[r] = z[targets[r]] - (m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +)))
        }
        // One and more column ranges (threads), one and more blocks of rows.
        for (parts, rowBlock) in [(1, nil), (2, nil), (3, 17), (2, 1), (1, 14)] as [(Int, Int?)] {
          var scored = [Float](repeating: 0, count: states.totalRows)
          #expect(
            runtime.scoreRowsInt8(states, targets: targets, rowBlock: rowBlock, parts: parts, into: &scored))
          for r in 0..<states.totalRows where targets[r] >= 0 {
            let what = "\(name): H \(h) O \(o) row \(r), \(parts) parts, rows per block \(rowBlock ?? 0)"
            #expect(
              Double(scored[r]).isApproximatelyEqual(to: reference[r], absoluteTolerance: Self.tolerance),
              "\(what): \(scored[r]) vs float64 \(reference[r])")
            #expect(
              Double(scored[r]).isApproximatelyEqual(
                to: Double(previous[r]), absoluteTolerance: Self.tolerance),
              "\(what): \(scored[r]) vs previous \(previous[r])")
          }
        }
        // The public entry points take the packed product: score(tokens:) and score(batch:).
        let single = try runtime.score(tokens: batch[1])
        let many = try runtime.score(batch: batch)
        for (s, sequence) in batch.enumerated() {
          for t in 0..<(sequence.count - 1) {
            let r = states.offsets[s] + t
            #expect(
              many[s].logProbabilities[t].isApproximatelyEqual(
                to: reference[r], absoluteTolerance: Self.tolerance))
            if s == 1 {
              #expect(
                single.logProbabilities[t].isApproximatelyEqual(
                  to: reference[r], absoluteTolerance: Self.tolerance))
            }
          }
        }
      }
    }
  }

  // One sequence with int8 V on two or more threads, with every variant: the recurrence overlapped
  // with the logits (chunks of one panel, of 40 rows and the default ones) and the split recurrence
  // followed by the logits of all rows, against the same sequence scored in a batch (the row blocks'
  // path) and a float64 log-sum-exp of the same int8 logits, `tolerance` each.
  @Test func oneSequenceOnManyThreadsMatchesTheBatchPath() throws {
    guard Kernels.threadCount >= 2 else {
      print("Int8PackedTests: one sequence on many threads NOT run: the runtime has one thread")
      return
    }
    try Self.forEachVariant("oneSequenceOnManyThreadsMatchesTheBatchPath") { _, name in
      let (h, o) = (29, 301)
      let runtime = try Self.model(h: h, x: o, seed: 12)
      var random = TestRandom(12)
      let tokens = (0..<150).map { _ in random.int(o) }
      let states = try runtime.hiddenStates(tokens: [tokens])
      var logits = [Float](repeating: 0, count: tokens.count * o)
      runtime.logits(hidden: states.rows, rows: tokens.count, into: &logits, addBias: true)
      let batch = try runtime.score(batch: [tokens, [1, 2]])[0].logProbabilities
      var scorings: [(String, [Float]?)] = try [1, 40, nil].map { chunk in
        (
          "overlapped, chunk \(chunk.map(String.init) ?? "default")",
          try runtime.scoreOverlapped(tokens: tokens, chunkRows: chunk)
        )
      }
      scorings.append(("split recurrence", try runtime.scoreAfterSplitRecurrence(tokens: tokens)))
      for (what, scored) in scorings {
        guard let scored else {
          Issue.record("\(name): \(what) did not run on the packed int8 product")
          continue
        }
        #expect(scored.count == tokens.count - 1)
        for t in 0..<(tokens.count - 1) {
          let z = (0..<o).map { Double(logits[t * o + $0]) }
          let m = z.max()!
          let expected =
            z[tokens[t + 1]] - (m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +)))
          #expect(
            Double(scored[t]).isApproximatelyEqual(to: expected, absoluteTolerance: Self.tolerance),
            "\(name), \(what), step \(t): float64")
          #expect(
            Double(scored[t]).isApproximatelyEqual(to: batch[t], absoluteTolerance: Self.tolerance),
            "\(name), \(what), step \(t): batch path")
        }
      }
    }
  }
}
