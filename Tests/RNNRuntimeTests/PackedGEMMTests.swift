import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// The packed matrix product (gemm_template.h) at every instruction-set level this CPU runs, against
/// float64 references, with M, N and K that are not multiples of the register tile and block sizes
/// small enough that every loop runs more than once and ends ragged.
@Suite struct PackedGEMMTests {
  /// (M, N, K): single elements, one short tile, tiles plus one, and several blocks of each.
  static let shapes = [(1, 1, 1), (5, 7, 3), (15, 33, 17), (29, 70, 130), (50, 100, 33), (3, 130, 64)]

  /// The blockings tried: the detected one, and tiny blocks (KC 8, one panel of rows and columns),
  /// and two panels with KC 24, so the K, row and column loops all split.
  static func blockings(level: Int32, m: Int, k: Int) -> [GEMMBlocks] {
    let (mr, nr) = Kernels.panelRows(level: level)
    return [
      Kernels.blocks(level: level, m: m, k: k), GEMMBlocks(kc: 8, mc: mr, nc: nr),
      GEMMBlocks(kc: 24, mc: 2 * mr, nc: 2 * nr),
    ]
  }

  static func packed(
    _ values: [Float], rows: Int, k: Int, level: Int32, a: Bool
  ) -> [Float] {
    let (mr, nr) = Kernels.panelRows(level: level)
    var out = [Float](repeating: .nan, count: Kernels.packedCount(rows: rows, k: k, panel: a ? mr : nr))
    values.withUnsafeBufferPointer { v in
      out.withUnsafeMutableBufferPointer { o in
        if a {
          Kernels.packA(
            level: level, v.baseAddress!, first: 0, rows: rows, k: k, lda: k, into: o.baseAddress!)
        } else {
          Kernels.packB(level: level, v.baseAddress!, rows: rows, k: k, ldb: k, into: o.baseAddress!)
        }
      }
    }
    return out
  }

  // Tolerance: abs 1e-5, rel 1e-5 per element against a float64 dot product (K ≤ 130, |x| < 1).
  @Test(arguments: KernelTests.levels)
  func productMatchesReference(level: Int) {
    KernelTests.atLevel(level, "packed matrix product") {
      let lv = Int32(level)
      var random = TestRandom(UInt64(41 + level))
      for (m, n, k) in Self.shapes {
        let a = random.floats(m * k, scale: 1)
        let b = random.floats(n * k, scale: 1)
        let (ap, bp) = (
          Self.packed(a, rows: m, k: k, level: lv, a: true),
          Self.packed(b, rows: n, k: k, level: lv, a: false)
        )
        #expect(!ap.contains { $0.isNaN } && !bp.contains { $0.isNaN }, "packing must fill every panel slot")
        let nr = Kernels.panelRows(level: lv).b
        // All columns, and (when there are more than one panel) the columns from the second panel on.
        let ranges = [0..<n] + (n > nr ? [nr..<n] : [])
        for blocks in Self.blockings(level: lv, m: m, k: k) {
          for columns in ranges {
            // A row stride wider than the columns: the product must write only its own columns.
            let ldc = columns.count + 3
            var c = [Float](repeating: 7, count: m * ldc)
            ap.withUnsafeBufferPointer { ap in
              bp.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer {
                  Kernels.gemmPacked(
                    level: lv, m: m, k: k, a: ap.baseAddress!, b: bp.baseAddress!, columns: columns,
                    c: $0.baseAddress!, ldc: ldc, blocks: blocks)
                }
              }
            }
            var failures = 0
            for i in 0..<m {
              for j in columns {
                let exact = (0..<k).map { Double(a[i * k + $0]) * Double(b[j * k + $0]) }.reduce(0, +)
                let actual = c[i * ldc + j - columns.lowerBound]
                if !Double(actual).isApproximatelyEqual(
                  to: exact, absoluteTolerance: 1e-5, relativeTolerance: 1e-5)
                {
                  failures += 1
                  if failures < 4 {
                    Issue.record(
                      "C[\(i), \(j)] of \(m)×\(n)×\(k), \(blocks) at level \(level): \(actual) vs \(exact)")
                  }
                }
              }
              for j in columns.count..<ldc where c[i * ldc + j] != 7 {
                Issue.record("C[\(i), \(j)] outside the columns was written at level \(level)")
              }
            }
          }
        }
      }
    }
  }

  // Each row's log-sum-exp of A·Bᵀ + bias, merged from two column ranges, and the target's logit;
  // tolerance abs 1e-5, rel 1e-5 against float64. Rows with target -1 are left untouched.
  @Test(arguments: KernelTests.levels)
  func scoringMatchesReference(level: Int) {
    KernelTests.atLevel(level, "packed scoring") {
      let lv = Int32(level)
      var random = TestRandom(UInt64(57 + level))
      for (m, n, k) in Self.shapes where n > 1 {
        let a = random.floats(m * k, scale: 1)
        let b = random.floats(n * k, scale: 2)
        let bias = random.floats(n, scale: 1)
        let targets = (0..<m).map { $0 % 5 == 4 ? -1 : random.int(n) }
        let (ap, bp) = (
          Self.packed(a, rows: m, k: k, level: lv, a: true),
          Self.packed(b, rows: n, k: k, level: lv, a: false)
        )
        let nr = Kernels.panelRows(level: lv).b
        let split = min(n, nr)
        for blocks in Self.blockings(level: lv, m: m, k: k) {
          var maxima = [Float](repeating: -.infinity, count: 2 * m)
          var sums = [Float](repeating: 0, count: 2 * m)
          var picked = [Float](repeating: .nan, count: 2 * m)
          for (part, columns) in [0..<split, split..<n].enumerated() where !columns.isEmpty {
            let done = ap.withUnsafeBufferPointer { ap in
              bp.withUnsafeBufferPointer { bp in
                bias.withUnsafeBufferPointer { c in
                  targets.withUnsafeBufferPointer { t in
                    maxima.withUnsafeMutableBufferPointer { mx in
                      sums.withUnsafeMutableBufferPointer { s in
                        picked.withUnsafeMutableBufferPointer { p in
                          Kernels.scorePacked(
                            level: lv, m: m, k: k, a: ap.baseAddress!, b: bp.baseAddress!,
                            bias: c.baseAddress!,
                            columns: columns, targets: t.baseAddress!, maxima: mx.baseAddress! + part * m,
                            sums: s.baseAddress! + part * m, picked: p.baseAddress! + part * m, blocks: blocks
                          )
                        }
                      }
                    }
                  }
                }
              }
            }
            #expect(done)
          }
          for i in 0..<m {
            guard targets[i] >= 0 else {
              #expect(maxima[i] == -.infinity && sums[i] == 0 && picked[i].isNaN, "row \(i) has no target")
              continue
            }
            let z = (0..<n).map { j in
              (0..<k).map { Double(a[i * k + $0]) * Double(b[j * k + $0]) }.reduce(0, +) + Double(bias[j])
            }
            let top = z.max()!
            let expected = top + Foundation.log(z.map { Foundation.exp($0 - top) }.reduce(0, +))
            var (maximum, sum): (Float, Float) = (-.infinity, 0)
            for part in 0..<2 {
              Kernels.mergeLogSumExp(
                &maximum, &sum, maxima[part * m + i] + Foundation.log(sums[part * m + i]))
            }
            let lse = Double(maximum) + Foundation.log(Double(sum))
            #expect(
              lse.isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
              "log-sum-exp of row \(i), \(m)×\(n)×\(k), \(blocks) at level \(level): \(lse) vs \(expected)")
            let part = targets[i] < split ? 0 : 1
            #expect(
              Double(picked[part * m + i]).isApproximatelyEqual(
                to: z[targets[i]], absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
              "target logit of row \(i) at level \(level)")
          }
        }
      }
    }
  }

  // The one-pass log-sum-exp (shifted by the running maximum) against the cases it hands to the
  // two-pass one: a column block whose largest logit is more than 64 above the shift, a row's first
  // logit far below its maximum, a larger maximum in a later block, masked (-inf) columns; and NaN
  // and +inf logits, which must give NaN and +inf. Columns in blocks of one panel, so every row
  // merges many blocks. Tolerance abs 1e-5, rel 1e-5 against float64.
  @Test(arguments: KernelTests.levels)
  func scoringHandlesWideRangesAndSpecialLogits(level: Int) {
    KernelTests.atLevel(level, "packed scoring, wide ranges") {
      let lv = Int32(level)
      let (mr, nr) = Kernels.panelRows(level: lv)
      let (m, n, k) = (3, 6 * nr + 5, 9)
      var random = TestRandom(UInt64(71 + level))
      let a = random.floats(m * k, scale: 1)
      let b = random.floats(n * k, scale: 1)
      let ap = Self.packed(a, rows: m, k: k, level: lv, a: true)
      let bp = Self.packed(b, rows: n, k: k, level: lv, a: false)
      let targets = (0..<m).map { _ in random.int(n) }
      func lse(bias: [Float]) -> [Float] {
        var maxima = [Float](repeating: -.infinity, count: m)
        var sums = [Float](repeating: 0, count: m)
        var picked = [Float](repeating: .nan, count: m)
        let done = ap.withUnsafeBufferPointer { ap in
          bp.withUnsafeBufferPointer { bp in
            bias.withUnsafeBufferPointer { c in
              targets.withUnsafeBufferPointer { t in
                Kernels.scorePacked(
                  level: lv, m: m, k: k, a: ap.baseAddress!, b: bp.baseAddress!, bias: c.baseAddress!,
                  columns: 0..<n, targets: t.baseAddress!, maxima: &maxima, sums: &sums, picked: &picked,
                  blocks: GEMMBlocks(kc: 8, mc: mr, nc: nr))
              }
            }
          }
        }
        #expect(done)
        return (0..<m).map { maxima[$0] + Foundation.log(sums[$0]) }
      }
      func expected(bias: [Float]) -> [Double] {
        (0..<m).map { i in
          let z = (0..<n).map { j in
            (0..<k).map { Double(a[i * k + $0]) * Double(b[j * k + $0]) }.reduce(0, +) + Double(bias[j])
          }
          let top = z.max()!
          return top + Foundation.log(z.map { Foundation.exp($0 - top) }.reduce(0, +))
        }
      }
      var bias = random.floats(n, scale: 1)
      bias[0] = -80  // the first logit, the first shift, far below the row's maximum
      bias[3] = 30  // a larger maximum in the first block
      bias[nr + 1] = -.infinity  // a masked column
      bias[2 * nr + 2] = 40  // a larger maximum in a later block
      bias[4 * nr + 3] = 120  // more than 64 above the running maximum
      bias[n - 1] = 119  // just below it, in the ragged last block
      for (i, (actual, exact)) in zip(lse(bias: bias), expected(bias: bias)).enumerated() {
        #expect(
          Double(actual).isApproximatelyEqual(to: exact, absoluteTolerance: 1e-5, relativeTolerance: 1e-5),
          "log-sum-exp of row \(i) at level \(level): \(actual) vs \(exact)")
      }
      var poisoned = bias
      poisoned[3 * nr] = .nan
      let poisonedLSE = lse(bias: poisoned)
      #expect(poisonedLSE.allSatisfy { $0.isNaN }, "a NaN logit makes its row's log-sum-exp NaN")
      var infinite = bias
      infinite[2 * nr + 4] = .infinity
      let infiniteLSE = lse(bias: infinite)
      #expect(infiniteLSE.allSatisfy { $0 == .infinity }, "a +inf logit makes the log-sum-exp +inf")
    }
  }

  /// Merging log-sum-exps: in any order, with -inf (nothing) and NaN (poison).
  @Test func mergingLogSumExps() {
    var (m, s): (Float, Float) = (-.infinity, 0)
    for lse: Float in [2, -.infinity, 5, 5, -1] { Kernels.mergeLogSumExp(&m, &s, lse) }
    let expected = Foundation.log(Foundation.exp(2.0) + 2 * Foundation.exp(5.0) + Foundation.exp(-1.0))
    #expect(Double(m + Foundation.log(s)).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-6))
    Kernels.mergeLogSumExp(&m, &s, .nan)
    #expect(m.isNaN)
  }

  // Merging the column ranges' pairs of many rows at once, at every level: each row's total against
  // float64 (rel 1e-6), the same bits for a row wherever it lies among the rows (vector lane or
  // padded tail), and -1 for a row with a pair that is -inf, NaN, +inf or has a zero sum.
  @Test(arguments: KernelTests.levels)
  func mergingPairsOfManyRows(level: Int) {
    KernelTests.atLevel(level, "merging pairs") {
      let (rows, parts) = (37, 5)
      var random = TestRandom(17)
      var maxima = random.floats(rows * parts, scale: 30)
      var sums = random.floats(rows * parts, scale: 4).map { $0 + 5 }
      let bad: [Int: (Float, Float)] = [
        3: (-.infinity, 0), 8: (.nan, 1), 20: (.infinity, 1), 33: (2, 0),
      ]
      for (row, pair) in bad { (maxima[2 * rows + row], sums[2 * rows + row]) = pair }
      func merged(_ span: Range<Int>) -> (top: [Float], total: [Float]) {
        var (top, total) = (
          [Float](repeating: 0, count: span.count), [Float](repeating: 0, count: span.count)
        )
        maxima.withUnsafeBufferPointer { m in
          sums.withUnsafeBufferPointer { s in
            Kernels.mergePairs(
              level: Int32(level), rows: span.count, parts: parts, stride: rows,
              maxima: m.baseAddress! + span.lowerBound,
              sums: s.baseAddress! + span.lowerBound, top: &top, total: &total)
          }
        }
        return (top, total)
      }
      let all = merged(0..<rows)
      for r in 0..<rows {
        if bad[r] != nil {
          #expect(all.total[r] == -1, "row \(r)")
          continue
        }
        let pairs = (0..<parts).map { (Double(maxima[$0 * rows + r]), Double(sums[$0 * rows + r])) }
        let top = pairs.map(\.0).max()!
        let total = pairs.reduce(0) { $0 + $1.1 * Foundation.exp($1.0 - top) }
        #expect(Double(all.top[r]) == top, "row \(r)")
        #expect(Double(all.total[r]).isApproximatelyEqual(to: total, relativeTolerance: 1e-6), "row \(r)")
      }
      for start in [1, 5, 19, 30] {
        let shifted = merged(start..<rows)
        #expect(shifted.top == Array(all.top[start...]), "from row \(start)")
        #expect(shifted.total == Array(all.total[start...]), "from row \(start)")
      }
    }
  }

  // Scoring through the packed product at every level, in row blocks of one and several panels, and
  // forward logits of many rows, against the float64 reference model (abs 1e-5 per log-probability,
  // abs 1e-5 + rel 1e-5 per logit).
  @Test(arguments: KernelTests.levels)
  func modelScoringMatchesReference(level: Int) throws {
    try KernelTests.atLevel(level, "packed model scoring") {
      let model = try TestModels.make(h: 37, x: 103, g: .identity, seed: 21, scale: 0.4)
      let runtime = try InferenceModel(model)
      var random = TestRandom(5)
      let batch = [40, 2, 17].map { n in (0..<n).map { _ in random.int(103) } }
      let states = try runtime.hiddenStates(tokens: batch)
      var targets = [Int](repeating: -1, count: states.totalRows)
      for (s, sequence) in batch.enumerated() {
        for t in 0..<(sequence.count - 1) { targets[states.offsets[s] + t] = sequence[t + 1] }
      }
      let panel = Kernels.panelRows(level: Int32(level)).a
      for rowBlock in [panel, 3 * panel, nil] {
        var out = [Float](repeating: .nan, count: states.totalRows)
        #expect(runtime.scoreRowsPacked(states, targets: targets, rowBlock: rowBlock, into: &out))
        for (s, sequence) in batch.enumerated() {
          let reference = Reference(model).run(tokens: sequence)
          for t in 0..<(sequence.count - 1) {
            let expected = Reference.logSoftmax(reference.logits[t])[sequence[t + 1]]
            let actual = Double(out[states.offsets[s] + t])
            #expect(
              actual.isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5),
              "sequence \(s) step \(t), row block \(String(describing: rowBlock)) at level \(level)")
          }
        }
      }
      let forward = try runtime.forward(tokens: batch[0])
      let reference = Reference(model).run(tokens: batch[0])
      for (row, expected) in zip(forward.outputs, reference.logits) {
        for (y, e) in zip(row, expected) {
          #expect(Double(y).isApproximatelyEqual(to: e, absoluteTolerance: 1e-5, relativeTolerance: 1e-5))
        }
      }
    }
  }

  // A batch of more rows than one thread merges alone (the column ranges' log-sum-exps are merged
  // with the rows split across the threads): 4,500 rows of a small model against the float64
  // reference model (abs 1e-5 per log-probability).
  @Test func manyRowsMergeAcrossThreads() throws {
    let model = try TestModels.make(h: 9, x: 70, seed: 31, scale: 0.5)
    let runtime = try InferenceModel(model)
    var random = TestRandom(13)
    let batch = (0..<9).map { _ in (0..<500).map { _ in random.int(70) } }
    let scored = try runtime.score(batch: batch)
    let reference = Reference(model)
    for (s, sequence) in batch.enumerated() {
      let logits = reference.run(tokens: sequence).logits
      for t in 0..<(sequence.count - 1) {
        let expected = Reference.logSoftmax(logits[t])[sequence[t + 1]]
        #expect(
          scored[s].logProbabilities[t].isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5),
          "sequence \(s) step \(t)")
      }
    }
  }

  // One sequence with the recurrence overlapped with the logits (with two or more threads), in
  // fixed chunks of one panel and of several panels, and in the default chunks of the rows ready
  // when a thread runs out of work, at every level, against the float64
  // reference model and against the same sequence scored in a batch (the plain path: recurrence
  // first, then the logits), both abs 1e-5 per log-probability: a sequence of many tokens (all of
  // W_x transposed), and on a fresh runtime one of two distinct tokens (their columns gathered),
  // whose rows the recurrence's thread copies a panel at a time; a hidden state that overflows is
  // reported at its step.
  @Test(arguments: KernelTests.levels)
  func overlappedScoringMatchesReference(level: Int) throws {
    try KernelTests.atLevel(level, "overlapped scoring") {
      let model = try TestModels.make(h: 29, x: 77, g: .softmax, seed: 23, scale: 0.5)
      var random = TestRandom(8)
      let many = (0..<150).map { _ in random.int(77) }
      let gathered = (0..<61).map { [5, 70][$0 % 3 == 0 ? 0 : 1] }
      for tokens in [gathered, many] {
        let runtime = try InferenceModel(model)
        let reference = Reference(model).run(tokens: tokens)
        for chunk in [1, 40, nil] {
          guard let scored = try runtime.scoreOverlapped(tokens: tokens, chunkRows: chunk) else {
            #expect(Kernels.threadCount == 1, "only one thread makes overlapping impossible")
            print("PackedGEMMTests: overlapped scoring NOT run: the runtime has one thread")
            return
          }
          let plain = try runtime.score(batch: [tokens, [1, 2]])[0].logProbabilities
          #expect(scored.count == tokens.count - 1)
          for t in 0..<(tokens.count - 1) {
            let what =
              "\(tokens.count) tokens, step \(t), chunk \(String(describing: chunk)) at level \(level)"
            let expected = Reference.logSoftmax(reference.logits[t])[tokens[t + 1]]
            #expect(Double(scored[t]).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5), "\(what)")
            #expect(
              Double(scored[t]).isApproximatelyEqual(to: plain[t], absoluteTolerance: 1e-5),
              "\(what), against the plain path")
          }
        }
      }
      var exploding = try TestModels.make(h: 8, x: 10, f: .identity, seed: 24, scale: 0.5)
      exploding.W = Parameter([Float](repeating: 1e30, count: 8 * 18), shape: [8, 18])
      let failing = try InferenceModel(exploding)
      #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: nil)) {
        _ = try failing.score(tokens: [1, 2, 3, 4])
      }
    }
  }

  // The last chunk's column ranges: contiguous, covering every column once, whole panels but the
  // last, widths never growing, none more than half a thread's share of the panels left, the last
  // ones one panel wide (so that the threads finish within a panel of each other), and far fewer
  // ranges than panels.
  @Test(arguments: [(10_000, 32, 2), (10_000, 16, 4), (77, 32, 2), (31, 32, 2), (1_000_003, 48, 3)])
  func lastChunkColumnsShrink(total: Int, panel: Int, threads: Int) {
    let ranges = InferenceModel.shrinkingColumns(total: total, panel: panel, threads: threads)
    let panels = (total + panel - 1) / panel
    #expect(ranges.first?.lowerBound == 0)
    #expect(ranges.last?.upperBound == total)
    for (a, b) in zip(ranges, ranges.dropFirst()) {
      #expect(a.upperBound == b.lowerBound)
      #expect(a.lowerBound % panel == 0 && a.count % panel == 0)
      #expect(b.count <= a.count || b.upperBound == total)
    }
    #expect(ranges.last!.count <= panel)
    #expect(ranges.allSatisfy { !$0.isEmpty })
    // No range holds more than a thread's share of what is left when it is claimed.
    for range in ranges {
      let left = panels - range.lowerBound / panel
      #expect((range.count + panel - 1) / panel <= max(1, left / (2 * threads)), "\(range) of \(total)")
    }
    if panels > 64 { #expect(ranges.count < panels / 4, "\(ranges.count) ranges for \(panels) panels") }
  }

  // One sequence with each recurrence step split across the threads, then the logits of all rows
  // (the path when W_h does not fit in L2), at every level, against the float64 reference model
  // (abs 1e-5 per log-probability) and against the serial recurrence followed by the packed
  // scoring: bit for bit (hidden states and log-probabilities) at the CPU's own level, which the
  // other threads run at too, else abs 1e-5; a hidden state that overflows is reported at its
  // first step.
  @Test(arguments: KernelTests.levels)
  func splitRecurrenceScoringMatchesReference(level: Int) throws {
    try KernelTests.atLevel(level, "scoring after the split recurrence") {
      // H = 45: shares of 32 and 13 rows with two threads, the last ragged.
      let model = try TestModels.make(h: 45, x: 61, g: .softmax, seed: 29, scale: 0.3)
      let runtime = try InferenceModel(model)
      var random = TestRandom(9)
      let tokens = (0..<97).map { _ in random.int(61) }
      let reference = Reference(model).run(tokens: tokens)
      var plain = [Float](repeating: 0, count: tokens.count)
      let targets = tokens.dropFirst() + [-1]
      #expect(
        runtime.scoreRowsPacked(
          try runtime.hiddenStates(tokens: [tokens]), targets: Array(targets), into: &plain))
      guard let scored = try runtime.scoreAfterSplitRecurrence(tokens: tokens) else {
        #expect(Kernels.threadCount == 1, "only one thread makes splitting impossible")
        print("PackedGEMMTests: split recurrence NOT run: the runtime has one thread")
        return
      }
      #expect(scored.count == tokens.count - 1)
      for t in 0..<(tokens.count - 1) {
        let expected = Reference.logSoftmax(reference.logits[t])[tokens[t + 1]]
        #expect(
          Double(scored[t]).isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5),
          "step \(t) at level \(level)")
      }
      var split = try runtime.hiddenStates(tokens: [tokens])
      let serial = split.rows
      try split.rows.withUnsafeMutableBufferPointer { rows throws(RuntimeError) in
        let base = rows.baseAddress!
        try runtime.inputColumns.copyRows(tokens) { base + $0 * 45 }
      }
      try runtime.recurSplit(&split.rows, count: tokens.count, blockRows: 5)
      if level == Kernels.cpuLevel {
        #expect(split.rows == serial, "split and serial recurrence differ (backward blocks of 5 rows)")
        #expect(scored == Array(plain.dropLast()), "split and serial recurrence score differently")
      } else {
        for t in 0..<(tokens.count - 1) {
          #expect(
            scored[t].isApproximatelyEqual(to: plain[t], absoluteTolerance: 1e-5),
            "step \(t) at level \(level), against the serial recurrence")
        }
      }
      var exploding = try TestModels.make(h: 40, x: 10, f: .identity, seed: 24, scale: 0.5)
      exploding.W = Parameter([Float](repeating: 1e30, count: 40 * 50), shape: [40, 50])
      let failing = try InferenceModel(exploding)
      #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: nil)) {
        _ = try failing.scoreAfterSplitRecurrence(tokens: [1, 2, 3, 4, 5])
      }
    }
  }

  // The split recurrence when a thread waits longer than `stallAfter` (here any wait): the waiting
  // thread keeps the rest of the steps and the others stop after their share. The hidden states
  // keep the serial recurrence's bits. Shares of 160 and 140 rows take long enough that the
  // threads wait for each other; tried up to 200 times until some wait happens (on a busy machine
  // the helper thread may not run at all during one recurrence).
  @Test func splitRecurrenceAfterStallKeepsTheBits() throws {
    let model = try TestModels.make(h: 300, x: 23, seed: 31, scale: 0.1)
    let runtime = try InferenceModel(model)
    var random = TestRandom(12)
    let tokens = (0..<80).map { _ in random.int(23) }
    let serial = try runtime.hiddenStates(tokens: [tokens]).rows
    for _ in 0..<200 {
      var rows = [Float](repeating: 0, count: tokens.count * 300)
      try rows.withUnsafeMutableBufferPointer { rows throws(RuntimeError) in
        let base = rows.baseAddress!
        try runtime.inputColumns.copyRows(tokens) { base + $0 * 300 }
      }
      let stalled = try runtime.recurSplit(&rows, count: tokens.count, stallAfter: 0)
      let same = rows == serial
      #expect(same, "the split recurrence (stalled: \(stalled)) differs from the serial one")
      if stalled { return }
    }
    #expect(Kernels.threadCount == 1, "no wait in 200 split recurrences with \(Kernels.threadCount) threads")
    print("PackedGEMMTests: the recurrence after a stall NOT run: the runtime has one thread")
  }

  // How many threads a batch recurrence step splits its columns across: about 2^20 multiply-adds
  // each, at most one per column panel and one per thread.
  @Test func batchRecurrenceStepsSplitWhenLargeEnough() {
    #expect(PackedRecurrence.parts(count: 32, hidden: 256, panel: 32, threads: 2) == 2)
    #expect(PackedRecurrence.parts(count: 40, hidden: 256, panel: 16, threads: 8) == 2)
    #expect(PackedRecurrence.parts(count: 15, hidden: 256, panel: 32, threads: 2) == 1)
    #expect(PackedRecurrence.parts(count: 32, hidden: 1_024, panel: 32, threads: 4) == 4)
    #expect(PackedRecurrence.parts(count: 1_000, hidden: 64, panel: 32, threads: 8) == 2)
    #expect(PackedRecurrence.parts(count: 1, hidden: 64, panel: 32, threads: 2) == 1)
  }

  // A batch recurrence whose steps are large enough to split their columns across the threads
  // (40 sequences at H = 256: three A panels, the last ragged; sequences ending at different
  // steps), at every level: every hidden state against the float64 reference model, abs 1e-5.
  @Test(arguments: KernelTests.levels)
  func splitBatchRecurrenceMatchesReference(level: Int) throws {
    #expect(
      PackedRecurrence.parts(count: 40, hidden: 256, panel: 32, threads: 2) == 2, "the first steps split")
    try KernelTests.atLevel(level, "split batch recurrence") {
      let model = try TestModels.make(h: 256, x: 37, seed: 41, scale: 0.2)
      let runtime = try InferenceModel(model)
      var random = TestRandom(12)
      let batch = (0..<40).map { s in (0..<(1 + s % 9)).map { _ in random.int(37) } }
      let states = try runtime.hiddenStates(tokens: batch)
      let reference = Reference(model)
      for (s, sequence) in batch.enumerated() {
        let hidden = reference.run(tokens: sequence).hidden
        for t in sequence.indices {
          let row = (states.offsets[s] + t) * 256
          let worst = (0..<256).map { abs(Double(states.rows[row + $0]) - hidden[t][$0]) }.max()!
          #expect(worst <= 1e-5, "sequence \(s) step \(t) at level \(level): \(worst)")
        }
      }
    }
  }

  // Scoring a batch with V in f32 (the packed product) and in f16 (never expanded: OpenBLAS on
  // blocks of widened rows), against the float64 reference of the loaded model (abs 1e-5).
  @Test(arguments: [DType.f32, .f16])
  func batchScoringMatchesReferenceForEitherV(dtype: DType) throws {
    let loaded = try TestModels.stored(TestModels.make(h: 21, x: 45, seed: 31, scale: 0.5), as: dtype)
    let runtime = try InferenceModel(loaded)
    #expect(runtime.outputWeightsAreHalf == (dtype == .f16))
    #expect((runtime.packedOutputWeights() == nil) == (dtype == .f16), "only an f32 V is packed")
    var random = TestRandom(12)
    let batch = [30, 3, 11].map { n in (0..<n).map { _ in random.int(45) } }
    let scores = try runtime.score(batch: batch)
    for (s, sequence) in batch.enumerated() {
      let reference = Reference(loaded).run(tokens: sequence)
      for t in 0..<(sequence.count - 1) {
        let expected = Reference.logSoftmax(reference.logits[t])[sequence[t + 1]]
        #expect(
          scores[s].logProbabilities[t].isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5),
          "\(dtype) V, sequence \(s) step \(t)")
      }
    }
  }
}
