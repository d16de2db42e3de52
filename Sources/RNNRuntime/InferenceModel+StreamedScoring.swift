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
  /// same steps, and each row's product is blocked as for the block of `rowBlock` rows (the
  /// whole-batch flow's) it would have been scored in. `rangeRows` overrides the rows per range.
  func scoreStreamed(batch: [[Int]], rangeRows: Int? = nil, rowBlock: Int? = nil) throws(RuntimeError)
    -> [[Float]]?
  {
    let lengths = batch.map(\.count)
    let total = lengths.reduce(0, +)
    let level = Int32(Kernels.currentLevel)
    let isF32 = packedOutputWeights() != nil
    let variant = Kernels.packedInt8Variant
    let reference: Int
    if isF32 {
      reference = min(total, max(1, rowBlock ?? packedRowBlock(level: level)))
    } else if outputWeightsAreInt8 && variant != RK_I8P_NONE {
      let panel = Kernels.int8PanelRows(variant).x
      reference = min(
        total, max(1, rowBlock ?? Self.int8RowBlock(k: hiddenSize, panel: panel, variant: variant)))
    } else {
      return nil
    }
    // A range holds at least one step of every sequence.
    let capacity = max(lengths.count, min(total, max(1, rangeRows ?? min(reference, Self.streamedRows))))
    guard let scorer = isF32 ? packedRowScorer(blockRows: capacity) : int8RowScorer(blockRows: capacity)
    else {
      return nil
    }
    defer { scorer.release() }
    // The whole-batch flow's last block of rows, when shorter than the others, has its own blocking.
    let lastStart = (total - 1) / reference * reference
    let lastRows = total - lastStart
    var offsets = [Int](repeating: 0, count: lengths.count)
    for s in 1..<max(1, lengths.count) { offsets[s] = offsets[s - 1] + lengths[s - 1] }

    try inputColumns.prepare(batch.flatMap { $0 })
    let h = hiddenSize
    let rows = PackedMatrix.allocate(capacity * h)
    defer { UnsafeMutableRawPointer(rows).deallocate() }
    var out = lengths.map { [Float](repeating: 0, count: $0 - 1) }
    // Per position of the range buffer: its token, target, sequence and step.
    var ids = [Int](repeating: 0, count: capacity)
    var targets = [Int](repeating: -1, count: capacity)
    var owners = [(sequence: Int, step: Int)](repeating: (0, 0), count: capacity)
    var positions = [Int](repeating: 0, count: capacity)
    var failure: (step: Int, sequence: Int)?
    var scored = true
    // The steps of `recur`: longest first, so the sequences still running at a step are a prefix.
    let order = lengths.indices.sorted { lengths[$0] > lengths[$1] }
    let steps = lengths[order[0]]
    func running(at step: Int, from active: Int) -> Int {
      var n = active
      while n > 0 && lengths[order[n - 1]] <= step { n -= 1 }
      return n
    }
    try recurrent.withUnsafeBufferPointer { (wh) throws(RuntimeError) in
      let product = PackedRecurrence(recurrent: wh.baseAddress!, hidden: h, capacity: order.count)
      defer { product.deallocate() }
      var (t, active) = (0, order.count)
      while t < steps {
        // The steps [t, end) whose rows fit; the rows of the whole-batch flow's short last block
        // go to the end of the buffer, to be scored with their own blocking.
        var (end, used, late, next) = (t, 0, 0, active)
        while end < steps {
          let n = running(at: end, from: next)
          if used + n > capacity { break }
          for j in 0..<n where offsets[order[j]] + end >= lastStart { late += 1 }
          (used, next, end) = (used + n, n, end + 1)
        }
        if lastRows == reference { late = 0 }
        var (front, back, k) = (0, used - late, 0)
        var n = active
        for step in t..<end {
          n = running(at: step, from: n)
          for j in 0..<n {
            let s = order[j]
            let position: Int
            if late > 0 && offsets[s] + step >= lastStart {
              (position, back) = (back, back + 1)
            } else {
              (position, front) = (front, front + 1)
            }
            ids[position] = batch[s][step]
            targets[position] = step + 1 < lengths[s] ? batch[s][step + 1] : -1
            owners[position] = (s, step)
            positions[k] = position
            k += 1
          }
        }
        try inputColumns.copyRows(Array(ids[0..<used])) { rows + $0 * h }
        k = 0
        for step in t..<end {
          active = running(at: step, from: active)
          let pointers = (0..<active).map { UnsafeSendable(rows + positions[k + $0] * h) }
          k += active
          if let j = product.step(step, count: active, rows: pointers, activation: activation) {
            failure = (step, order[j])
            return
          }
        }
        for (first, count, productRows) in [(0, used - late, reference), (used - late, late, lastRows)]
        where count > 0 {
          var scoredRows = [Float](repeating: 0, count: count)
          let score = scorer.score
          let ok = scoreInBlocks(
            total: count, blockRows: capacity, ranges: scorer.ranges,
            targets: Array(targets[first..<(first + count)]),
            into: &scoredRows,
            pack: { start, count in scorer.pack(rows + (first + start) * h, count) },
            score: { columns, count, targets, pairs in score(columns, count, productRows, targets, pairs) })
          guard ok else {
            scored = false
            return
          }
          for r in 0..<count where targets[first + r] >= 0 {
            let (s, step) = owners[first + r]
            out[s][step] = scoredRows[r]
          }
        }
        t = end
      }
    }
    if let failure { throw .nonFiniteHidden(step: failure.step, sequence: failure.sequence) }
    return scored ? out : nil
  }
}
