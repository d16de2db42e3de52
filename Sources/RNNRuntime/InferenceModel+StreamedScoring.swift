import CKernels

/// Scoring a batch without its whole hidden states in memory: the recurrence runs over a range of
/// steps at a time into one reused buffer of rows, which the packed scoring then packs and scores
/// before the next range overwrites it. 32 sequences of 512 tokens at H = 256 otherwise write 16 MB
/// of new hidden states and an 8 MB packed block, and a fresh process pays the kernel's zeroing of
/// every one of those pages (docs/PERFORMANCE.md, "Scoring a batch a range of steps at a time").
extension InferenceModel {
  /// Rows the streamed scoring holds at a time by default: 2,048 (at most the packed product's
  /// block), so that each range still reads all of V for at least 1,024 FLOPs per byte of f32 V.
  static let streamedRows = 2048

  /// Log-probabilities of every token after the first of each sequence of `batch` (two or more
  /// sequences, checked by the caller), or nil when neither packed product scores this model's V
  /// on the calling thread (or a buffer could not be allocated): the caller then takes the
  /// whole-batch flow. Each row gets exactly the bits that flow gives it: the recurrence runs the
  /// same steps, and a row's score does not depend on the rows scored with it. `rangeRows`
  /// overrides the rows per range.
  func scoreStreamed(batch: [[Int]], rangeRows: Int? = nil) throws(RuntimeError) -> [[Float]]? {
    let lengths = batch.map(\.count)
    let total = lengths.reduce(0, +)
    let level = Int32(Kernels.currentLevel)
    let variant = Kernels.packedInt8Variant
    let largest: Int
    if packedOutputWeights() != nil {
      largest = packedRowBlock(level: level)
    } else if outputWeightsAreInt8 && variant != RK_I8P_NONE {
      largest = Self.int8RowBlock(k: hiddenSize, panel: Kernels.int8PanelRows(variant).x, variant: variant)
    } else {
      return nil
    }
    // A range holds at least one step of every sequence.
    let capacity = max(lengths.count, min(total, max(1, rangeRows ?? min(largest, Self.streamedRows))))
    let made =
      packedOutputWeights() != nil ? packedRowScorer(blockRows: capacity) : int8RowScorer(blockRows: capacity)
    guard let scorer = made else { return nil }
    defer { scorer.release() }

    try inputColumns.prepare(batch.flatMap { $0 })
    let h = hiddenSize
    let rows = PackedMatrix.allocate(capacity * h)
    defer { UnsafeMutableRawPointer(rows).deallocate() }
    var out = lengths.map { [Float](repeating: 0, count: $0 - 1) }
    // Per position of the range buffer: its token, target, sequence and step.
    var ids = [Int](repeating: 0, count: capacity)
    var targets = [Int](repeating: -1, count: capacity)
    var owners = [(sequence: Int, step: Int)](repeating: (0, 0), count: capacity)
    var failure: (step: Int, sequence: Int)?
    var scored = true
    // The steps of `recur`.
    let sequences = LongestFirst(lengths)
    let (order, steps) = (sequences.order, sequences.steps)
    try recurrent.withUnsafeBufferPointer { (wh) throws(RuntimeError) in
      let product = PackedRecurrence(recurrent: wh.baseAddress!, hidden: h, capacity: order.count)
      defer { product.deallocate() }
      var (t, active) = (0, order.count)
      while t < steps {
        // The steps [t, end) whose rows fit, step by step: row k of the buffer is step t's
        // sequences first, then step t + 1's, and so on.
        var (end, used) = (t, 0)
        var n = active
        while end < steps {
          n = sequences.running(at: end, from: n)
          if used + n > capacity { break }
          for j in 0..<n {
            let s = order[j]
            ids[used + j] = batch[s][end]
            targets[used + j] = end + 1 < lengths[s] ? batch[s][end + 1] : -1
            owners[used + j] = (s, end)
          }
          (used, end) = (used + n, end + 1)
        }
        try inputColumns.copyRows(Array(ids[0..<used])) { rows + $0 * h }
        var first = 0
        for step in t..<end {
          active = sequences.running(at: step, from: active)
          let pointers = (0..<active).map { UnsafeSendable(rows + (first + $0) * h) }
          first += active
          if let j = product.step(step, count: active, rows: pointers, activation: activation) {
            failure = (step, order[j])
            return
          }
        }
        var scoredRows = [Float](repeating: 0, count: used)
        let ok = scoreInBlocks(
          total: used, blockRows: capacity, ranges: scorer.ranges, targets: Array(targets[0..<used]),
          into: &scoredRows,
          pack: { start, count in scorer.pack(rows + start * h, count) },
          score: scorer.score)
        guard ok else {
          scored = false
          return
        }
        for r in 0..<used where targets[r] >= 0 {
          let (s, step) = owners[r]
          out[s][step] = scoredRows[r]
        }
        t = end
      }
    }
    if let failure { throw .nonFiniteHidden(step: failure.step, sequence: failure.sequence) }
    return scored ? out : nil
  }
}
