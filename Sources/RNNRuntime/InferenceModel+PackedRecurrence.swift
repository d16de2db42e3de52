/// The recurrence of a batch of sequences on the packed matrix product (see `gemm_template.h`):
/// each step adds states·W_hᵀ to the rows holding the inputs, for the sequences still running.
/// W_h is packed once per batch; the states (a few rows) are packed at every step.
struct PackedRecurrence {
  let level: Int32
  let hidden: Int
  let weights: PackedMatrix
  /// A panels for up to `capacity` states.
  let states: UnsafeMutablePointer<Float>
  let capacity: Int

  /// Packs W_h (hidden×hidden, row-major) for products over at most `capacity` states.
  init(recurrent: UnsafePointer<Float>, hidden: Int, capacity: Int) {
    level = Int32(Kernels.currentLevel)
    self.hidden = hidden
    self.capacity = capacity
    weights = PackedMatrix(b: recurrent, rows: hidden, k: hidden, level: level)
    states = PackedMatrix.allocate(
      Kernels.packedCount(rows: capacity, k: hidden, panel: Kernels.panelRows(level: level).a))
  }

  func deallocate() { UnsafeMutableRawPointer(states).deallocate() }

  /// next[j] += W_h·state[j] for the first `count` rows of `state` and `next` (row-major, hidden
  /// floats each). The columns (rows of W_h) split across the threads when a step is large enough
  /// for that to pay: about 2^20 multiply-adds per thread.
  func step(count: Int, state: UnsafePointer<Float>, next: UnsafeMutablePointer<Float>) {
    precondition(count <= capacity, "more states than packed room")
    let h = hidden
    Kernels.packA(level: level, state, first: 0, rows: count, k: h, lda: h, into: states)
    let blocks = Kernels.blocks(level: level, m: count, k: h)
    let panels = (h + weights.panel - 1) / weights.panel
    let parts = max(1, min(Kernels.threadCount, panels, count * h * h >> 20))
    let (level, a, b, c, panel) = (
      level, UnsafeSendable(states), UnsafeSendable(weights.values), UnsafeSendable(next), weights.panel
    )
    let work: @Sendable (Int) -> Void = { part in
      let columns = InferenceModel.columns(part: part, of: parts, total: h, panel: panel)
      guard !columns.isEmpty else { return }
      Kernels.gemmPackedAdd(
        level: level, m: count, k: h, a: a.value, b: b.value, columns: columns,
        c: c.value + columns.lowerBound,
        ldc: h, blocks: blocks)
    }
    if parts == 1 { work(0) } else { Kernels.parallelFor(parts, work) }
  }
}
