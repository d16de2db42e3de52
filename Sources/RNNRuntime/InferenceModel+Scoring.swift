import Dispatch
import RNNFormat
import Synchronization

/// A matrix copied into the panels of the packed matrix product (see `gemm_template.h`), for the
/// kernel level it was packed at: the panel height differs between levels.
final class PackedMatrix: @unchecked Sendable {
  /// The kernel level whose micro-kernel reads these panels.
  let level: Int32
  /// Rows (N for B) and their length K.
  let rows: Int
  let k: Int
  /// Rows per panel.
  let panel: Int
  /// 64-byte aligned panels; written once in `init`, read-only after.
  let values: UnsafeMutablePointer<Float>

  /// Packs `rows`×`k` row-major `matrix` as B panels at `level`.
  init(b matrix: UnsafePointer<Float>, rows: Int, k: Int, level: Int32) {
    self.level = level
    self.rows = rows
    self.k = k
    panel = Kernels.panelRows(level: level).b
    values = PackedMatrix.allocate(Kernels.packedCount(rows: rows, k: k, panel: panel))
    // Panels split across the threads: packing V is a copy of V, so it runs at memory speed.
    let panels = (rows + panel - 1) / panel
    let parts = min(Kernels.threadCount, panels)
    let per = (panels + parts - 1) / parts
    let (source, target, panel) = (UnsafeSendable(matrix), UnsafeSendable(values), panel)
    Kernels.parallelFor(parts) { part in
      let first = part * per * panel
      let count = min(rows, (part + 1) * per * panel) - first
      guard count > 0 else { return }
      Kernels.packB(
        level: level, source.value + first * k, rows: count, k: k, ldb: k, into: target.value + first * k)
    }
  }

  deinit { UnsafeMutableRawPointer(values).deallocate() }

  static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
    let bytes = max(1, count) * MemoryLayout<Float>.stride
    // Large panels (V, blocks of hidden states) start on a huge page and end on one, so that first
    // writing them faults once per huge page: an unaligned start or a tail in small pages would
    // fault page by page.
    let alignment = System.hugePageAlignment
    let large = bytes >= System.hugePageAdviceMinimum
    let rounded = large ? (bytes + alignment - 1) / alignment * alignment : bytes
    let memory = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: large ? alignment : 64)
    if large { System.adviseHugePages(memory, byteCount: rounded) }
    return memory.bindMemory(to: Float.self, capacity: max(1, count))
  }
}

/// V in panels, made the first time many rows of logits are needed (scoring, batched forward
/// passes), so that loading a model and generating never pay for the copy.
final class PackedOutputWeights: Sendable {
  private let storage = Mutex<PackedMatrix?>(nil)

  /// The packed V for the calling thread's kernel level, packing it (again, for another level)
  /// when needed.
  func matrix(level: Int32, make: () -> PackedMatrix) -> PackedMatrix {
    storage.withLock { packed in
      if let packed, packed.level == level { return packed }
      let made = make()
      packed = made
      return made
    }
  }
}

extension InferenceModel {
  /// V packed for the packed matrix product, or nil when V is not f32 (f16, bf16 and int8 V are
  /// never expanded in memory, and have their own products).
  func packedOutputWeights() -> PackedMatrix? {
    switch outputWeights {
    case .int8, .bfloat, .half: return nil
    case .owned, .mapped: break
    }
    let level = Int32(Kernels.currentLevel)
    let (h, o) = (hiddenSize, outputSize)
    return withOutputWeights { weights -> PackedMatrix? in
      guard case .f32(let v) = weights else { return nil }
      return packedOutput.matrix(level: level) { PackedMatrix(b: v, rows: o, k: h, level: level) }
    }
  }

  /// The columns of V's panels that thread `part` of `parts` computes: whole panels, in order.
  static func columns(part: Int, of parts: Int, total: Int, panel: Int) -> Range<Int> {
    let panels = (total + panel - 1) / panel
    let per = (panels + parts - 1) / parts
    let start = min(total, part * per * panel)
    return start..<min(total, (part + 1) * per * panel)
  }

  /// Copies `rows` rows of `hidden` into A panels, split across the threads when they take more
  /// bytes than L2 holds (512 rows of H = 1,024 are 2 MB: a copy the other threads would wait for).
  static func packRows(
    _ hidden: UnsafePointer<Float>, rows: Int, k: Int, level: Int32, into packed: UnsafeMutablePointer<Float>
  ) {
    let panel = Kernels.panelRows(level: level).a
    let panels = (rows + panel - 1) / panel
    let bytes = rows * k * MemoryLayout<Float>.stride
    let parts = bytes > Kernels.cacheSize(2) ? min(Kernels.threadCount, panels) : 1
    let per = (panels + parts - 1) / parts
    let (source, target) = (UnsafeSendable(hidden), UnsafeSendable(packed))
    Kernels.parallelFor(parts) { part in
      let first = part * per * panel
      let count = min(rows, (part + 1) * per * panel) - first
      guard count > 0 else { return }
      Kernels.packA(level: level, source.value, first: first, rows: count, k: k, lda: k, into: target.value)
    }
  }

  /// Rows of hidden states packed at a time: their A panels take at most 8 MiB of scratch memory.
  /// Each block reads all of V once; at this size that is at least 2,048 rows (1,024 FLOPs per
  /// byte of V) for H up to 1,024, so V's traffic stays small even from main memory.
  func packedRowBlock(level: Int32) -> Int {
    let panel = Kernels.panelRows(level: level).a
    return max(panel, (1 << 23) / (hiddenSize * MemoryLayout<Float>.stride) / panel * panel)
  }

  /// z = H·Vᵀ (+ c) for `rows` hidden states into `out` (rows×O) with the packed product; false
  /// (computing nothing) when V is f16.
  func packedLogits(
    hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, addBias: Bool
  ) -> Bool {
    guard let v = packedOutputWeights() else { return false }
    let (h, o, level) = (hiddenSize, outputSize, v.level)
    let blockRows = min(rows, packedRowBlock(level: level))
    let panel = Kernels.panelRows(level: level).a
    let packed = PackedMatrix.allocate(Kernels.packedCount(rows: blockRows, k: h, panel: panel))
    defer { UnsafeMutableRawPointer(packed).deallocate() }
    let parts = max(1, min(Kernels.threadCount, (o + v.panel - 1) / v.panel))
    var start = 0
    while start < rows {
      let count = min(blockRows, rows - start)
      Self.packRows(hidden + start * h, rows: count, k: h, level: level, into: packed)
      let blocks = Kernels.blocks(level: level, m: count, k: h)
      let shared = (UnsafeSendable(packed), UnsafeSendable(out + start * o))
      Kernels.parallelFor(parts) { part in
        let columns = Self.columns(part: part, of: parts, total: o, panel: v.panel)
        guard !columns.isEmpty else { return }
        Kernels.gemmPacked(
          level: level, m: count, k: h, a: shared.0.value, b: v.values, columns: columns,
          c: shared.1.value + columns.lowerBound, ldc: o, blocks: blocks)
      }
      start += count
    }
    if addBias {
      outputBias.withUnsafeBufferPointer { c in
        for r in 0..<rows {
          let row = out + r * o
          for j in 0..<o { row[j] += c[j] }
        }
      }
    }
    return true
  }

  /// Scoring with the packed product: each thread takes a range of V's panels and, for every row,
  /// merges the log-sum-exp of its logits (never stored beyond one cache-sized block) and picks
  /// the target's logit; the ranges are merged per row at the end. False (computing nothing) when
  /// V is f16 or a buffer could not be allocated. `rowBlock` overrides the rows packed at a time.
  func scoreRowsPacked(_ states: HiddenStates, targets: [Int], rowBlock: Int? = nil, into out: inout [Float])
    -> Bool
  {
    let level = Int32(Kernels.currentLevel)
    let total = states.totalRows
    let blockRows = min(total, max(1, rowBlock ?? packedRowBlock(level: level)))
    guard let scorer = packedRowScorer(blockRows: blockRows) else { return false }
    defer { scorer.release() }
    return scoreRows(states, targets: targets, with: scorer, into: &out)
  }

  /// Scores the rows of `states` in blocks of `scorer.blockRows`.
  func scoreRows(_ states: HiddenStates, targets: [Int], with scorer: RowScorer, into out: inout [Float])
    -> Bool
  {
    let h = hiddenSize
    return states.rows.withUnsafeBufferPointer { hidden in
      scoreInBlocks(
        total: states.totalRows, blockRows: scorer.blockRows, ranges: scorer.ranges, targets: targets,
        into: &out,
        pack: { start, count in scorer.pack(hidden.baseAddress! + start * h, count) },
        score: scorer.score)
    }
  }

  /// A ``RowScorer`` on the packed f32 product, or nil when V is not f32.
  func packedRowScorer(blockRows: Int) -> RowScorer? {
    guard let v = packedOutputWeights() else { return nil }
    let (h, o, level) = (hiddenSize, outputSize, v.level)
    let panel = Kernels.panelRows(level: level).a
    let packed = PackedMatrix.allocate(Kernels.packedCount(rows: blockRows, k: h, panel: panel))
    let parts = max(1, min(Kernels.threadCount, (o + v.panel - 1) / v.panel))
    let ranges = (0..<parts).map { Self.columns(part: $0, of: parts, total: o, panel: v.panel) }
    // Each range's block of logits, kept across calls: allocated per call, its L2-sized buffer
    // would be fresh pages every time. Room for the blocking of any row count (M = 0: the largest
    // MC; NC does not depend on M).
    let scratchFloats = Kernels.scoreScratchCount(Kernels.blocks(level: level, m: 0, k: h))
    let scratch = PackedMatrix.allocate(scratchFloats * parts)
    let shared = UnsafeSendable((packed, scratch))
    return RowScorer(
      blockRows: blockRows, ranges: ranges,
      pack: { hidden, count in
        Self.packRows(hidden, rows: count, k: h, level: level, into: packed)
        return true
      },
      score: { columns, count, targets, pairs in
        let blocks = Kernels.blocks(level: level, m: count, k: h)
        let part = ranges.firstIndex(of: columns)
        let fits = part != nil && Kernels.scoreScratchCount(blocks) <= scratchFloats
        return self.outputBias.withUnsafeBufferPointer { c in
          Kernels.scorePacked(
            level: level, m: count, k: h, a: shared.value.0, b: v.values, bias: c.baseAddress!,
            columns: columns,
            targets: targets, maxima: pairs.maxima, sums: pairs.sums, picked: pairs.picked, blocks: blocks,
            scratch: fits ? shared.value.1 + part! * scratchFloats : nil)
        }
      },
      release: {
        UnsafeMutableRawPointer(packed).deallocate()
        UnsafeMutableRawPointer(scratch).deallocate()
      })
  }

  /// One of the packed scorings, with its buffer for up to `blockRows` packed rows: `pack(hidden,
  /// count)` packs `count` row-major hidden states (false: a buffer failed), then `score(columns,
  /// count, targets, pairs)` scores them over one column range. A row's result never depends on
  /// the rows scored with it (the product's column blocks do not depend on the row count).
  struct RowScorer {
    let blockRows: Int
    let ranges: [Range<Int>]
    let pack: (_ hidden: UnsafePointer<Float>, _ count: Int) -> Bool
    let score:
      @Sendable (
        _ columns: Range<Int>, _ count: Int, _ targets: UnsafePointer<Int>, _ pairs: ScorePairs
      ) -> Bool
    let release: () -> Void
  }

  /// The running (maximum, sum) of the log-sum-exp and the target's logit of one column range, per
  /// row of a block.
  struct ScorePairs: @unchecked Sendable {
    let maxima: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>
    let picked: UnsafeMutablePointer<Float>
  }

  /// The loop the packed scorings share: the `total` rows in blocks of at most `blockRows`; for
  /// each, `pack(start, count)` prepares its rows (false: stop, failing), then, on the runtime's
  /// threads, `score(columns, count, targets, pairs)` merges each column range's log-sum-exp and
  /// picked logit of the block's `count` rows (their targets at `targets`) into `pairs` (false:
  /// failing), and the ranges are merged per row into `out`.
  func scoreInBlocks(
    total: Int, blockRows: Int, ranges: [Range<Int>], targets: [Int], into out: inout [Float],
    pack: (_ start: Int, _ count: Int) -> Bool,
    score:
      @Sendable (
        _ columns: Range<Int>, _ count: Int, _ targets: UnsafePointer<Int>, _ pairs: ScorePairs
      ) -> Bool
  ) -> Bool {
    let parts = ranges.count
    // The ranges' pairs are merged at the calling thread's level, whichever thread merges them.
    let level = Int32(Kernels.currentLevel)
    var maxima = [Float](repeating: -.infinity, count: parts * blockRows)
    var sums = [Float](repeating: 0, count: parts * blockRows)
    var picked = [Float](repeating: .nan, count: parts * blockRows)
    return targets.withUnsafeBufferPointer { targets in
      var start = 0
      while start < total {
        let count = min(blockRows, total - start)
        guard pack(start, count) else { return false }
        for i in 0..<(parts * blockRows) {
          maxima[i] = -.infinity
          sums[i] = 0
        }
        let failures = Atomic<Int>(0)
        maxima.withUnsafeMutableBufferPointer { maxima in
          sums.withUnsafeMutableBufferPointer { sums in
            picked.withUnsafeMutableBufferPointer { picked in
              let shared = UnsafeSendable(
                (targets.baseAddress! + start, maxima.baseAddress!, sums.baseAddress!, picked.baseAddress!))
              Kernels.parallelFor(parts) { part in
                let columns = ranges[part]
                guard !columns.isEmpty else { return }
                let (targets, maxima, sums, picked) = shared.value
                let offset = part * blockRows
                let pairs = ScorePairs(maxima: maxima + offset, sums: sums + offset, picked: picked + offset)
                if !score(columns, count, targets, pairs) { failures.add(1, ordering: .relaxed) }
              }
            }
          }
        }
        guard failures.load(ordering: .relaxed) == 0 else { return false }
        out.withUnsafeMutableBufferPointer { out in
          Self.mergeParts(
            rows: count, ranges: ranges, stride: blockRows, targets: targets.baseAddress! + start,
            maxima: maxima, sums: sums, picked: picked, level: level, into: out.baseAddress! + start)
        }
        start += count
      }
      return true
    }
  }
}

extension InferenceModel {
  /// out[r] = the target's logit - the log-sum-exp of row r, from the (maximum, sum) pairs and
  /// picked logits of the column ranges `ranges` (range p's at offset p·stride + r), for every row
  /// with a target. Many rows are split across the threads: with one thread scoring the others
  /// would wait on this serial loop.
  static func mergeParts(
    rows: Int, ranges: [Range<Int>], stride: Int, targets: UnsafePointer<Int>, maxima: [Float], sums: [Float],
    picked: [Float], level: Int32, into out: UnsafeMutablePointer<Float>
  ) {
    let threads = rows >= 4096 ? Kernels.threadCount : 1
    let per = (rows + threads - 1) / threads
    maxima.withUnsafeBufferPointer { maxima in
      sums.withUnsafeBufferPointer { sums in
        picked.withUnsafeBufferPointer { picked in
          let shared = UnsafeSendable(
            (targets, maxima.baseAddress!, sums.baseAddress!, picked.baseAddress!, out))
          Kernels.parallelFor(threads) { part in
            let (targets, maxima, sums, picked, out) = shared.value
            mergeRows(
              (part * per)..<min(rows, (part + 1) * per), ranges: ranges, stride: stride, targets: targets,
              maxima: maxima, sums: sums, picked: picked, level: level, into: out)
          }
        }
      }
    }
  }

  /// ``mergeParts(rows:ranges:stride:targets:maxima:sums:picked:level:into:)`` for the rows `rows`,
  /// on the calling thread; the sums of exponentials with the kernels of `level`, a row per vector
  /// lane.
  static func mergeRows(
    _ rows: Range<Int>, ranges: [Range<Int>], stride: Int, targets: UnsafePointer<Int>,
    maxima: UnsafePointer<Float>, sums: UnsafePointer<Float>, picked: UnsafePointer<Float>, level: Int32,
    into out: UnsafeMutablePointer<Float>
  ) {
    guard !rows.isEmpty else { return }
    let first = rows.lowerBound
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * rows.count) { merged in
      let (top, total) = (merged.baseAddress!, merged.baseAddress! + rows.count)
      Kernels.mergePairs(
        level: level, rows: rows.count, parts: ranges.count, stride: stride, maxima: maxima + first,
        sums: sums + first, top: top, total: total)
      for r in rows where targets[r] >= 0 {
        let target = targets[r]
        let p = ranges.firstIndex { $0.contains(target) }
        let logit = p.map { picked[$0 * stride + r] } ?? .nan
        if total[r - first] > 0 {
          // Usually: every pair (m, s) finite, so Σ s·e^(m - top) with one exp per range and one
          // log per row, instead of each range's log merged with an exp.
          out[r] = logit - (top[r - first] + naturalLog(total[r - first]))
          continue
        }
        // -inf, NaN and +inf as `Kernels.mergeLogSumExp` defines them.
        var (maximum, sum): (Float, Float) = (-.infinity, 0)
        for p in ranges.indices {
          let i = p * stride + r
          Kernels.mergeLogSumExp(&maximum, &sum, maxima[i] + naturalLog(sums[i]))
        }
        out[r] = logit - (maximum + naturalLog(sum))
      }
    }
  }
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) func naturalLog(_ x: Float) -> Float { Glibc.logf(x) }
  @inline(__always) func naturalExp(_ x: Float) -> Float { Glibc.expf(x) }
#else
  import Foundation
  @inline(__always) func naturalLog(_ x: Float) -> Float { Foundation.logf(x) }
  @inline(__always) func naturalExp(_ x: Float) -> Float { Foundation.expf(x) }
#endif
