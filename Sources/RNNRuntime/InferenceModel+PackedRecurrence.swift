import Synchronization

/// The recurrence of a batch of sequences on the packed matrix product (see `gemm_template.h`):
/// each step adds states·W_hᵀ to the rows holding the inputs, for the sequences still running.
/// W_h is packed once per batch. Each thread takes a range of columns of a step and does all of
/// that step's work on it: the product, the activation, the finite check, the copy to the
/// sequences' rows and the packing of the new states for the next step (two packed buffers, read
/// and written in turn), so that no part of a step runs on one thread while the others wait.
struct PackedRecurrence {
  let level: Int32
  let hidden: Int
  let weights: PackedMatrix
  /// A panels for up to `capacity` states, twice: the states read by a step and those it writes.
  let states: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
  /// Row-major scratch rows for up to `capacity` new states.
  let next: UnsafeMutablePointer<Float>
  let capacity: Int

  /// Packs W_h (hidden×hidden, row-major) for products over at most `capacity` states.
  init(recurrent: UnsafePointer<Float>, hidden: Int, capacity: Int) {
    level = Int32(Kernels.currentLevel)
    self.hidden = hidden
    self.capacity = capacity
    weights = PackedMatrix(b: recurrent, rows: hidden, k: hidden, level: level)
    let count = Kernels.packedCount(rows: capacity, k: hidden, panel: Kernels.panelRows(level: level).a)
    states = (PackedMatrix.allocate(count), PackedMatrix.allocate(count))
    next = PackedMatrix.allocate(capacity * hidden)
  }

  func deallocate() {
    UnsafeMutableRawPointer(states.0).deallocate()
    UnsafeMutableRawPointer(states.1).deallocate()
    UnsafeMutableRawPointer(next).deallocate()
  }

  /// Threads a step of `count` states splits its columns across: about 2^20 multiply-adds each,
  /// at most one per column panel.
  static func parts(count: Int, hidden h: Int, panel: Int, threads: Int) -> Int {
    let panels = (h + panel - 1) / panel
    // Shifts bind tighter than products in Swift: the product is parenthesized.
    return max(1, min(threads, panels, (count * h * h) >> 20))
  }

  /// Step `t` for the first `count` sequences, whose rows (h floats each, holding the inputs) are
  /// `rows`: each becomes f(input + W_h·state) with the states packed by step t - 1, or f(input)
  /// at step 0. Returns the first j whose new state is not finite (the rows are then partly
  /// written), else nil. The columns split across the threads when a step is large enough for
  /// that to pay: about 2^20 multiply-adds per thread.
  func step(
    _ t: Int, count: Int, rows: [UnsafeSendable<UnsafeMutablePointer<Float>>], activation: Int32
  ) -> Int? {
    precondition(count <= capacity && rows.count >= count, "more states than packed room")
    let h = hidden
    let blocks = Kernels.blocks(level: level, m: count, k: h)
    let parts = Self.parts(count: count, hidden: h, panel: weights.panel, threads: Kernels.threadCount)
    let (read, write) = t % 2 == 0 ? (states.1, states.0) : (states.0, states.1)
    let (level, panel) = (level, weights.panel)
    let shared = UnsafeSendable((read, write, weights.values, next))
    let failed = Atomic<Int>(Int.max)
    let work: @Sendable (Int) -> Void = { part in
      let columns = InferenceModel.columns(part: part, of: parts, total: h, panel: panel)
      guard !columns.isEmpty else { return }
      let (read, write, weights, next) = shared.value
      let (start, width) = (columns.lowerBound, columns.count)
      for j in 0..<count { (next + j * h + start).update(from: rows[j].value + start, count: width) }
      if t > 0 {
        Kernels.gemmPackedAdd(
          level: level, m: count, k: h, a: read, b: weights, columns: columns, c: next + start, ldc: h,
          blocks: blocks)
      }
      for j in 0..<count {
        let row = next + j * h + start
        Kernels.activate(activation, row, count: width)
        if !Kernels.allFinite(row, count: width) {
          var seen = failed.load(ordering: .relaxed)
          while j < seen {
            let (exchanged, original) = failed.compareExchange(expected: seen, desired: j, ordering: .relaxed)
            if exchanged { break }
            seen = original
          }
        }
        (rows[j].value + start).update(from: row, count: width)
      }
      Kernels.packA(level: level, next, rows: count, k: h, lda: h, columns: columns, into: write)
    }
    if parts == 1 { work(0) } else { Kernels.parallelFor(parts, work) }
    let first = failed.load(ordering: .relaxed)
    return first == Int.max ? nil : first
  }
}

/// The sequences of a batch, longest first, so that the sequences still running at any step are a
/// prefix: each step of the batch recurrence is one product over that prefix.
struct LongestFirst {
  let lengths: [Int]
  /// Sequence indices, longest first.
  let order: [Int]

  init(_ lengths: [Int]) {
    self.lengths = lengths
    order = lengths.indices.sorted { lengths[$0] > lengths[$1] }
  }

  /// The steps of the longest sequence.
  var steps: Int { order.first.map { lengths[$0] } ?? 0 }

  /// How many sequences run at `step`, counting down from `active`, the count at an earlier step.
  func running(at step: Int, from active: Int) -> Int {
    var n = active
    while n > 0 && lengths[order[n - 1]] <= step { n -= 1 }
    return n
  }
}
