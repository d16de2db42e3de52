import CKernels
import Dispatch
import Synchronization

/// One chunk of overlapped scoring: rows `first ..< last`, scored in `ranges.count` column ranges
/// of V (the work items). Whoever finishes its last item merges its rows.
final class ScoringChunk: Sendable {
  let first: Int
  let last: Int
  let ranges: [Range<Int>]
  /// Items not finished yet.
  let pending: Atomic<Int>

  init(first: Int, last: Int, ranges: [Range<Int>]) {
    (self.first, self.last, self.ranges) = (first, last, ranges)
    pending = Atomic(ranges.count)
  }
}

/// The packed product that scores one sequence while its recurrence runs (f32 or int8 V): rows
/// packed a panel at a time as the recurrence finishes them, and chunks of packed rows scored over
/// column ranges of V.
struct OverlapProduct: Sendable {
  /// Rows per packed panel: chunks start on a panel.
  let panel: Int
  /// Columns per panel of V: column ranges are whole panels.
  let columnPanel: Int
  /// Bytes of V (whether it stays in L3 decides the smallest chunk).
  let vBytes: Int
  /// The most rows a chunk scores.
  let maxRows: Int
  /// Column ranges for a chunk of `rows` rows: about one cache block wide.
  let parts: @Sendable (_ rows: Int) -> Int
  /// Floats of scratch an item of `rows` rows needs.
  let scratchCount: @Sendable (_ rows: Int) -> Int
  /// Packs rows `first ..< first + count` (`first` a multiple of `panel`) of row-major `hidden`;
  /// false when a buffer could not be allocated.
  let pack: @Sendable (_ hidden: UnsafePointer<Float>, _ first: Int, _ count: Int) -> Bool
  /// Merges the log-sum-exp and the target's logit of packed rows `first ..< first + count` over
  /// `columns` into `pairs`; false when it could not run.
  let score:
    @Sendable (
      _ first: Int, _ count: Int, _ columns: Range<Int>, _ targets: UnsafePointer<Int>,
      _ pairs: InferenceModel.ScorePairs,
      _ scratch: UnsafeMutablePointer<Float>
    ) -> Bool
  let release: @Sendable () -> Void
}

/// A scoring thread waiting for the recurrence to finish `rows` rows (0: not waiting).
final class RowWaiter: Sendable {
  let rows = Atomic<Int>(0)
  let wake = DispatchSemaphore(value: 0)
}

/// Which chunks exist, and the next item of the newest one.
struct OverlapSchedule {
  var chunk: ScoringChunk?
  var nextPart = 0
  /// Rows handed to chunks so far: the next chunk's first row.
  var scheduled = 0
}

extension InferenceModel {
  /// Scores one sequence with the serial recurrence overlapped with the logits: one thread runs
  /// the recurrence and packs the rows panel by panel; the others score chunks of the rows already
  /// finished, in column ranges of V about one cache block wide; once the recurrence ends, that
  /// thread joins them. A thread that runs out of items makes the next chunk of every row finished
  /// by then (at most the product's `maxRows`), so V is read once per chunk and the chunks grow as
  /// fast as the recurrence runs ahead. `chunkRows` instead fixes every chunk's rows (rounded up
  /// to whole panels; the last chunk takes the rest). Nil (computing nothing) with one thread, or
  /// a V that neither packed product reads at the calling thread's level (f16, bf16; int8 at the
  /// portable level).
  func scoreOverlapped(tokens: [Int], chunkRows: Int? = nil) throws(RuntimeError) -> [Float]? {
    let threads = Kernels.threadCount
    guard threads >= 2, tokens.count >= 2 else { return nil }
    let total = tokens.count
    guard let product = overlapProductF32(rows: total) ?? overlapProductInt8(rows: total) else { return nil }
    defer { product.release() }
    let (h, o, panel) = (hiddenSize, outputSize, product.panel)
    // The ranges' pairs are merged at the calling thread's level, whichever thread merges them.
    let level = Int32(Kernels.currentLevel)
    let fixed = chunkRows.map { (max(1, $0) + panel - 1) / panel * panel }
    // The fewest rows worth a chunk: one panel while V fits in L3, where reading it once more for
    // few rows is cheap; else the whole panels in 32 rows (about 16 FLOPs per byte of a V read from
    // main memory).
    let fitsL3 = product.vBytes <= Kernels.cacheSize(3)
    let minRows = min(total, fitsL3 ? panel : max(panel, 32 / panel * panel))
    let maxRows = max(minRows, product.maxRows)
    // The last chunk's ranges shrink toward its end, so that the threads finish together (no rows
    // come after it to even them out). `width` bounds the ranges of any chunk, for the buffers below.
    let tail = Self.shrinkingColumns(total: o, panel: product.columnPanel, threads: threads)
    let width = max(
      tail.count,
      stride(from: panel, through: min(total, maxRows) + panel, by: panel).map(product.parts).max()!)
    // Every row is written, a panel at a time, by the recurrence's thread just before its steps,
    // so that the other threads' first rows are not held up by the copy of all of them.
    let inputRows = try inputColumns.preparedRows(tokens)
    var rows = [Float](unsafeUninitializedCapacity: total * h) { $1 = total * h }
    var targets = [Int](repeating: -1, count: total)
    for t in 0..<(total - 1) { targets[t] = tokens[t + 1] }
    // Per column range (at most `width`) and row: the log-sum-exp's running (maximum, sum) and
    // the target's logit.
    var maxima = [Float](repeating: -.infinity, count: width * total)
    var sums = [Float](repeating: 0, count: width * total)
    var picked = [Float](repeating: .nan, count: width * total)
    // Rows whose states are final and packed, published panel by panel.
    let ready = Atomic<Int>(0)
    let waiters = (0..<threads).map { _ in RowWaiter() }
    let schedule = Mutex(OverlapSchedule())
    let failedStep = Atomic<Int>(-1)
    let failures = Atomic<Int>(0)
    let spinBudget = WorkerPool.shared.spinBudget
    var out = [Float](repeating: 0, count: total - 1)
    out.withUnsafeMutableBufferPointer { outBuffer in
      rows.withUnsafeMutableBufferPointer { rows in
        recurrent.withUnsafeBufferPointer { wh in
          targets.withUnsafeBufferPointer { targets in
            maxima.withUnsafeMutableBufferPointer { maxima in
              sums.withUnsafeMutableBufferPointer { sums in
                picked.withUnsafeMutableBufferPointer { picked in
                  let shared = UnsafeSendable(
                    (
                      rows.baseAddress!, wh.baseAddress!, targets.baseAddress!,
                      maxima.baseAddress!, sums.baseAddress!, picked.baseAddress!, outBuffer.baseAddress!
                    ))
                  let activation = activation
                  Kernels.parallelFor(threads) { worker in
                    let (rows, wh, targets, maxima, sums, picked, out) = shared.value
                    if worker == 0 {
                      var packedRows = 0
                      for t in 0..<total {
                        let row = rows + t * h
                        if t % panel == 0 { inputRows.copy(t..<min(total, t + panel)) { rows + $0 * h } }
                        // Every other step backwards, starting where the last one ended in W_h.
                        if t > 0 {
                          Kernels.gemvF32(
                            m: h, n: h, a: wh, x: row - h, beta: 1, y: row, reversed: t % 2 == 1)
                        }
                        Kernels.activate(activation, row, count: h)
                        if failedStep.load(ordering: .relaxed) < 0 && !Kernels.allFinite(row, count: h) {
                          failedStep.store(t, ordering: .relaxed)
                        }
                        guard t + 1 - packedRows == panel || t + 1 == total else { continue }
                        if !product.pack(rows, packedRows, t + 1 - packedRows) {
                          failures.add(1, ordering: .relaxed)
                        }
                        packedRows = t + 1
                        ready.store(packedRows, ordering: .sequentiallyConsistent)
                        for waiter in waiters {
                          let wanted = waiter.rows.load(ordering: .sequentiallyConsistent)
                          if wanted > 0 && wanted <= packedRows
                            && waiter.rows.compareExchange(
                              expected: wanted, desired: 0, ordering: .sequentiallyConsistent
                            ).exchanged
                          {
                            waiter.wake.signal()
                          }
                        }
                      }
                    }
                    // One block of logits per worker for all its items, grown when a chunk needs more.
                    var scratch: UnsafeMutablePointer<Float>? = nil
                    var scratchCount = 0
                    defer { scratch.map { UnsafeMutableRawPointer($0).deallocate() } }
                    while true {
                      enum Claim {
                        case item(ScoringChunk, Int)
                        case wait(Int)
                        case done
                      }
                      let claim = schedule.withLock { s -> Claim in
                        if let chunk = s.chunk, s.nextPart < chunk.ranges.count {
                          s.nextPart += 1
                          return .item(chunk, s.nextPart - 1)
                        }
                        let first = s.scheduled
                        guard first < total else { return .done }
                        let finished = ready.load(ordering: .acquiring)
                        var last: Int
                        if let fixed {
                          last = min(total, first + fixed)
                          if finished < last { return .wait(last) }
                        } else if finished == total {
                          last = total
                        } else if total - finished < minRows {
                          // A few rows left: wait for them rather than read V once more for them.
                          return .wait(total)
                        } else if finished - first < minRows {
                          return .wait(first + minRows)
                        } else {
                          last = finished
                        }
                        last = min(last, first + maxRows)
                        let count = last - first
                        let parts = min(width, product.parts(count))
                        let chunk = ScoringChunk(
                          first: first, last: last,
                          ranges: last == total
                            ? tail
                            : (0..<parts).map {
                              Self.columns(part: $0, of: parts, total: o, panel: product.columnPanel)
                            })
                        (s.chunk, s.nextPart, s.scheduled) = (chunk, 1, last)
                        return .item(chunk, 0)
                      }
                      switch claim {
                      case .done:
                        return
                      case .wait(let wanted):
                        // Spins as long as a wake-up takes (the rows are usually a few steps away),
                        // then sleeps until the recurrence thread has `wanted` rows ready (it signals
                        // whoever it takes the request from), rather than spin on a core it may need.
                        let since = DispatchTime.now().uptimeNanoseconds
                        while ready.load(ordering: .acquiring) < wanted
                          && DispatchTime.now().uptimeNanoseconds - since < spinBudget
                        {
                          rk_spin_pause()
                        }
                        if ready.load(ordering: .acquiring) >= wanted { continue }
                        let waiter = waiters[worker]
                        waiter.rows.store(wanted, ordering: .sequentiallyConsistent)
                        if ready.load(ordering: .sequentiallyConsistent) >= wanted
                          && waiter.rows.exchange(0, ordering: .sequentiallyConsistent) != 0
                        {
                          continue
                        }
                        waiter.wake.wait()
                      case .item(let chunk, let part):
                        let columns = chunk.ranges[part]
                        let (first, count) = (chunk.first, chunk.last - chunk.first)
                        if !columns.isEmpty {
                          let needed = product.scratchCount(count)
                          if needed > scratchCount {
                            scratch.map { UnsafeMutableRawPointer($0).deallocate() }
                            scratch = PackedMatrix.allocate(needed)
                            scratchCount = needed
                          }
                          let offset = part * total + first
                          let pairs = ScorePairs(
                            maxima: maxima + offset, sums: sums + offset, picked: picked + offset)
                          if !product.score(first, count, columns, targets + first, pairs, scratch!) {
                            failures.add(1, ordering: .relaxed)
                          }
                        }
                        // The chunk's last item: every range's pairs of these rows are final (the other
                        // items' writes happen before their decrements, which this one acquires).
                        if chunk.pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                          Self.mergeRows(
                            first..<min(chunk.last, total - 1), ranges: chunk.ranges, stride: total,
                            targets: targets, maxima: maxima, sums: sums, picked: picked, level: level,
                            into: out)
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    let step = failedStep.load(ordering: .relaxed)
    if step >= 0 { throw .nonFiniteHidden(step: step, sequence: nil) }
    guard failures.load(ordering: .relaxed) == 0 else { return nil }
    return out
  }
}

extension InferenceModel {
  /// The packed f32 product over `rows` rows of one sequence, or nil when V is not f32.
  func overlapProductF32(rows total: Int) -> OverlapProduct? {
    guard let v = packedOutputWeights() else { return nil }
    let (h, o, level, threads) = (hiddenSize, outputSize, v.level, Kernels.threadCount)
    let panel = Kernels.panelRows(level: level).a
    let packed = PackedMatrix.allocate(Kernels.packedCount(rows: total, k: h, panel: panel))
    let vPanels = (o + v.panel - 1) / v.panel
    let shared = UnsafeSendable(packed)
    return OverlapProduct(
      panel: panel, columnPanel: v.panel, vBytes: o * h * MemoryLayout<Float>.stride,
      maxRows: packedRowBlock(level: level),
      // About one C block (NC) wide, at least eight per thread: the last item a thread takes is
      // short, so the threads finish together.
      parts: { rows in
        let nc = max(1, Int(Kernels.blocks(level: level, m: rows, k: h).nc))
        return min(vPanels, max(8 * threads, (o + nc - 1) / nc))
      },
      scratchCount: { rows in Kernels.scoreScratchCount(Kernels.blocks(level: level, m: rows, k: h)) },
      pack: { hidden, first, count in
        Kernels.packA(
          level: level, hidden + first * h, first: 0, rows: count, k: h, lda: h,
          into: shared.value + first * h)
        return true
      },
      score: { first, count, columns, targets, pairs, scratch in
        self.outputBias.withUnsafeBufferPointer { c in
          Kernels.scorePacked(
            level: level, m: count, k: h, a: shared.value + first * h, b: v.values, bias: c.baseAddress!,
            columns: columns, targets: targets, maxima: pairs.maxima, sums: pairs.sums, picked: pairs.picked,
            blocks: Kernels.blocks(level: level, m: count, k: h), scratch: scratch)
        }
      },
      release: { UnsafeMutableRawPointer(shared.value).deallocate() })
  }

  /// Column ranges of `total` columns (whole panels but the last) that shrink as they go: each
  /// takes 1/(2·threads) of the panels left, down to one panel. Threads that claim them in order
  /// finish within about one panel of each other, with few ranges (about 2·threads·ln(panels)).
  static func shrinkingColumns(total: Int, panel: Int, threads: Int) -> [Range<Int>] {
    let panels = (total + panel - 1) / panel
    var ranges: [Range<Int>] = []
    var start = 0
    while start < panels {
      let width = max(1, (panels - start) / (2 * max(1, threads)))
      ranges.append(min(total, start * panel)..<min(total, (start + width) * panel))
      start += width
    }
    return ranges
  }
}

extension InferenceModel {
  /// Scores one sequence with two or more threads: the recurrence overlapped with the logits
  /// (``scoreOverlapped(tokens:chunkRows:)``) while W_h fits in L2, else (W_h read from L3 or memory
  /// at every step) every step split across the threads and then the logits of all rows at once,
  /// reading V once (``scoreAfterSplitRecurrence(tokens:)``): overlapped there, the recurrence's
  /// reads of W_h compete with the logits' reads of V. Either runs on the packed f32 or int8
  /// product. Nil (computing nothing) with one thread, or a V neither packed product reads at the
  /// calling thread's level (f16, bf16; int8 at the portable level).
  func scoreOneSequence(tokens: [Int]) throws(RuntimeError) -> [Float]? {
    if hiddenSize * hiddenSize * MemoryLayout<Float>.stride <= Kernels.cacheSize(2) {
      return try scoreOverlapped(tokens: tokens)
    }
    return try scoreAfterSplitRecurrence(tokens: tokens)
  }

  /// Scores one sequence: the recurrence with each step's rows of W_h split across the threads
  /// (``recurSplit(_:count:blockRows:)``), then the logits of all rows with the packed f32 or int8
  /// product. Nil (computing nothing) with one thread, or a V neither packed product reads at the
  /// calling thread's level.
  func scoreAfterSplitRecurrence(tokens: [Int]) throws(RuntimeError) -> [Float]? {
    let int8 = outputWeightsAreInt8 && Kernels.packedInt8Variant != RK_I8P_NONE
    guard Kernels.threadCount >= 2, tokens.count >= 2, int8 || packedOutputWeights() != nil else {
      return nil
    }
    let (h, total) = (hiddenSize, tokens.count)
    var states = HiddenStates(
      rows: [Float](unsafeUninitializedCapacity: total * h) { $1 = total * h }, offsets: [0], lengths: [total]
    )
    try states.rows.withUnsafeMutableBufferPointer { rows throws(RuntimeError) in
      let base = rows.baseAddress!
      try inputColumns.copyRows(tokens) { t in base + t * h }
    }
    try recurSplit(&states.rows, count: total)
    var targets = [Int](repeating: -1, count: total)
    for t in 0..<(total - 1) { targets[t] = tokens[t + 1] }
    var out = [Float](repeating: 0, count: total)
    guard
      scoreRowsPacked(states, targets: targets, into: &out)
        || scoreRowsInt8(states, targets: targets, into: &out)
    else { return nil }
    out.removeLast()
    return out
  }

  /// h_t = f(proj_t + W_h·h_{t-1}) in place over the `count` rows of one sequence (h_0 = f(proj_0)),
  /// each step's rows of W_h split into one share per thread. The shares of a step are work items
  /// claimed in order, and an item waits (spinning) until the step before is complete, so any
  /// thread may run any share and a thread that joins late only leaves the others more to do;
  /// claimed alternately, each thread keeps its share, and every other step runs it backwards so
  /// that it starts on the rows still in its L2 cache (a share larger than L2 is then read half from
  /// L2 instead of all from L3). A row's sum never depends on the split or the order.
  /// `blockRows` (by default a sixteenth of L2) is the rows read forward at a time on backward steps.
  ///
  /// A thread that waits far longer than a share takes (eight of its own last shares, at least
  /// the pool's wake-up time; `stallAfter` nanoseconds when given) is waiting for a thread that is
  /// not running: another process holds its core. Then the waiting thread keeps the rest of the
  /// recurrence to itself and the others stop once their claimed share is done, so a busy machine
  /// costs one such wait per call instead of one at every step. Returns whether that happened.
  @discardableResult
  func recurSplit(
    _ rows: inout [Float], count total: Int, blockRows: Int? = nil, stallAfter: UInt64? = nil
  ) throws(RuntimeError) -> Bool {
    let h = hiddenSize
    let threads = Kernels.threadCount
    // Backwards in blocks read forward, so that the hardware prefetchers see ascending streams.
    let block = max(1, blockRows ?? Kernels.cacheSize(2) / 16 / (h * MemoryLayout<Float>.stride))
    // Shares of whole cache lines.
    let per = ((h + threads - 1) / threads + 15) / 16 * 16
    let parts = (h + per - 1) / per
    let items = (total - 1) * parts
    let next = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let failedStep = Atomic<Int>(-1)
    // The thread that keeps the rest of the recurrence after a stall; -1 while the steps split.
    let soloist = Atomic<Int>(-1)
    let budget = WorkerPool.shared.spinBudget
    let activation = activation
    rows.withUnsafeMutableBufferPointer { rows in
      recurrent.withUnsafeBufferPointer { wh in
        Kernels.activate(activation, rows.baseAddress!, count: h)
        if !Kernels.allFinite(rows.baseAddress!, count: h) { failedStep.store(0, ordering: .relaxed) }
        let shared = UnsafeSendable((rows.baseAddress!, wh.baseAddress!))
        Kernels.parallelFor(threads) { worker in
          let (rows, wh) = shared.value
          // This thread's last share, nanoseconds: what a wait for another share should take.
          var shareTime: UInt64 = 0
          while true {
            let keeper = soloist.load(ordering: .relaxed)
            guard keeper < 0 || keeper == worker else { return }
            let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard item < items else { return }
            let (index, part) = item.quotientAndRemainder(dividingBy: parts)
            let t = index + 1
            // Row t - 1 is complete once every share of the steps before t is.
            if done.load(ordering: .acquiring) < index * parts {
              let since = DispatchTime.now().uptimeNanoseconds
              let stall = stallAfter ?? max(budget, 8 * shareTime)
              var spins = 0
              while done.load(ordering: .acquiring) < index * parts {
                if spins & 63 == 0 {
                  // Now and then give the core away: on a busy machine the thread this one waits
                  // for may be waiting for a core.
                  if spins > 0 { rk_spin_yield() }
                  if DispatchTime.now().uptimeNanoseconds - since >= stall {
                    _ = soloist.compareExchange(expected: -1, desired: worker, ordering: .relaxed)
                  }
                }
                rk_spin_pause()
                spins += 1
              }
            }
            let began = DispatchTime.now().uptimeNanoseconds
            let start = part * per
            let count = min(per, h - start)
            let row = rows + t * h
            if t % 2 == 0 {
              Kernels.gemvF32(m: count, n: h, a: wh + start * h, x: row - h, beta: 1, y: row + start)
            } else {
              var top = start + count
              while top > start {
                let first = max(start, top - block)
                Kernels.gemvF32(m: top - first, n: h, a: wh + first * h, x: row - h, beta: 1, y: row + first)
                top = first
              }
            }
            Kernels.activate(activation, row + start, count: count)
            if !Kernels.allFinite(row + start, count: count) {
              var seen = failedStep.load(ordering: .relaxed)
              while seen < 0 || t < seen {
                let (exchanged, original) = failedStep.compareExchange(
                  expected: seen, desired: t, ordering: .relaxed)
                if exchanged { break }
                seen = original
              }
            }
            shareTime = DispatchTime.now().uptimeNanoseconds - began
            done.add(1, ordering: .releasing)
          }
        }
      }
    }
    let step = failedStep.load(ordering: .relaxed)
    if step >= 0 { throw .nonFiniteHidden(step: step, sequence: nil) }
    return soloist.load(ordering: .relaxed) >= 0
  }
}
