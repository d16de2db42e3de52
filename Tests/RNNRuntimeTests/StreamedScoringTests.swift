import RNNModel
import Testing

@testable import RNNRuntime

/// Scoring a batch a range of steps at a time (`scoreStreamed`) against the whole-batch flow (all
/// hidden states first, then `scoreRowsPacked` or `scoreRowsInt8` in blocks of rows): the same bits
/// for every log-probability, with ragged lengths (sequences of 2 tokens), ranges of one step and
/// of several, and blocks of rows whose last one is short. Run the suite with OPENBLAS_NUM_THREADS=1
/// and =2 for both thread counts.
@Suite struct StreamedScoringTests {
  /// Lengths: two sequences of 2 tokens, 103 rows in all.
  static let lengths = [40, 2, 17, 2, 33, 9]

  static func batch(vocabulary: Int, seed: UInt64) -> [[Int]] {
    var random = TestRandom(seed)
    return lengths.map { n in (0..<n).map { _ in random.int(vocabulary) } }
  }

  /// The whole-batch flow's log-probabilities, per sequence.
  static func whole(
    _ runtime: InferenceModel, _ batch: [[Int]],
    score: (InferenceModel.HiddenStates, [Int], inout [Float]) -> Bool
  ) throws -> [[Float]] {
    let states = try runtime.hiddenStates(tokens: batch)
    var targets = [Int](repeating: -1, count: states.totalRows)
    for (s, sequence) in batch.enumerated() {
      for t in 0..<(sequence.count - 1) { targets[states.offsets[s] + t] = sequence[t + 1] }
    }
    var out = [Float](repeating: .nan, count: states.totalRows)
    #expect(score(states, targets, &out))
    return batch.indices.map { s in Array(out[states.offsets[s]..<(states.offsets[s] + batch[s].count - 1)]) }
  }

  static func expectSameBits(_ streamed: [[Float]]?, _ whole: [[Float]], _ what: String) {
    guard let streamed else {
      Issue.record("\(what): the streamed scoring did not run")
      return
    }
    #expect(streamed.count == whole.count, "\(what): sequences")
    for (s, (a, b)) in zip(streamed, whole).enumerated() {
      let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(a.count == b.count && differing == 0, "\(what): sequence \(s), \(differing) differ")
    }
  }

  /// The streamed scoring of `batch`, in ranges of 1 to 64 rows and the default, against the
  /// whole-batch flow `score(states, targets, rowBlock, out)` in blocks of one panel, 50 rows and
  /// the default; and `score(batch:)` against the whole-batch flow's default blocks.
  static func expectRangesGiveTheWholeBatchBits(
    _ runtime: InferenceModel, _ batch: [[Int]], panel: Int, _ what: String,
    score: (InferenceModel.HiddenStates, [Int], Int?, inout [Float]) -> Bool
  ) throws {
    for rowBlock in [panel, 50, nil] as [Int?] {
      let whole = try Self.whole(runtime, batch) { score($0, $1, rowBlock, &$2) }
      for rangeRows in [1, 10, 25, 64, nil] as [Int?] {
        Self.expectSameBits(
          try runtime.scoreStreamed(batch: batch, rangeRows: rangeRows), whole,
          "\(what), rows per block \(rowBlock ?? 0), per range \(rangeRows ?? 0)")
      }
    }
    // The public entry point takes the streamed scoring, with the whole-batch flow's default blocks.
    let whole = try Self.whole(runtime, batch) { score($0, $1, nil, &$2) }
    Self.expectSameBits(
      try runtime.score(batch: batch).map { $0.logProbabilities.map(Float.init) }, whole,
      "\(what), score(batch:)")
  }

  // f32 V at every level. O = 4,000 spans more than one column block of the product, and each
  // row's log-sum-exp is merged once per column block: the blocks must not depend on how many rows
  // share a product (a short last block of 3 rows of blocks of 50, ranges of 1 to 64 rows).
  @Test(arguments: KernelTests.levels)
  func f32RangesGiveTheWholeBatchBits(level: Int) throws {
    try KernelTests.atLevel(level, "streamed f32 scoring") {
      let runtime = try InferenceModel(try TestModels.make(h: 37, x: 4000, seed: 41, scale: 0.5))
      try Self.expectRangesGiveTheWholeBatchBits(
        runtime, Self.batch(vocabulary: 4000, seed: 42), panel: Kernels.panelRows(level: Int32(level)).a,
        "level \(level)"
      ) { runtime.scoreRowsPacked($0, targets: $1, rowBlock: $2, into: &$3) }
    }
  }

  @Test func int8RangesGiveTheWholeBatchBits() throws {
    try Int8PackedTests.forEachVariant("int8RangesGiveTheWholeBatchBits") { variant, name in
      let runtime = try Int8PackedTests.model(h: 37, x: 300, seed: 43)
      try Self.expectRangesGiveTheWholeBatchBits(
        runtime, Self.batch(vocabulary: 300, seed: 44), panel: Kernels.int8PanelRows(variant).x, name
      ) { runtime.scoreRowsInt8($0, targets: $1, rowBlock: $2, into: &$3) }
    }
  }

  // A hidden state that overflows is reported with its step and sequence, in whichever range it
  // falls: token 7's input is 3e38, so sequence 2 (the only one with two 7s) overflows at step 2.
  @Test func nonFiniteHiddenNamesStepAndSequence() throws {
    var exploding = try TestModels.make(h: 8, x: 10, f: .identity, seed: 24, scale: 0.5)
    var w = [Float](repeating: 1, count: 8 * 18)
    for i in 0..<8 { w[i * 18 + 8 + 7] = 3e38 }
    exploding.W = Parameter(w, shape: [8, 18])
    let runtime = try InferenceModel(exploding)
    let batch = [[1, 2, 3, 4, 5, 6], [1, 2, 3], [1, 7, 7, 2], [3, 3]]
    for rangeRows in [1, 5, nil] as [Int?] {
      #expect(throws: RuntimeError.nonFiniteHidden(step: 2, sequence: 2)) {
        _ = try runtime.scoreStreamed(batch: batch, rangeRows: rangeRows)
      }
    }
    #expect(throws: RuntimeError.nonFiniteHidden(step: 2, sequence: 2)) {
      _ = try runtime.score(batch: batch)
    }
  }
}
