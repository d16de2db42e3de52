import CKernels
import RNNModel
import Synchronization

/// V stored as int8 rows with one scale each, read as it is (docs/PERFORMANCE.md, "int8 V").
///
/// Each product quantizes the hidden state too, per vector: h ≈ s_h·hq with s_h = max|h|/127 and hq
/// in [-127, 127]; then logit r = c[r] + float(Σ_k q[r, k]·hq[k])·(scale[r]·s_h), the integer sum
/// exact on every instruction-set level. Quantizing h adds at most s_h/2 per element, so at most
/// scale[r]·Σ_k |q[r, k]|·s_h/2 to logit r (typically √H/√12 times less).
struct Int8OutputWeights: Sendable {
  let matrix: QuantizedMatrix
  /// Σ_k q[r, k] per row, for the VNNI kernels.
  let rowSums: [Int32]
  /// The panels of the packed int8 product, made on first use (scoring).
  let packed = PackedInt8Storage()

  init(_ matrix: QuantizedMatrix) {
    self.matrix = matrix
    rowSums = matrix.withIntegers { q in
      Kernels.rowSums(q.baseAddress!, rows: matrix.rows, cols: matrix.columns)
    }
  }

  /// Calls `body` with the integers, the scales and the row sums.
  func withPointers<R>(
    _ body: (UnsafePointer<Int8>, UnsafePointer<Float>, UnsafePointer<Int32>) -> R
  ) -> R {
    matrix.withIntegers { q in
      matrix.scales.withUnsafeBufferPointer { scales in
        rowSums.withUnsafeBufferPointer { sums in body(q.baseAddress!, scales.baseAddress!, sums.baseAddress!)
        }
      }
    }
  }
}

extension InferenceModel {
  /// Whether V is stored as int8 and the products read it so.
  public var outputWeightsAreInt8: Bool {
    if case .int8 = outputWeights { return true }
    return false
  }

  /// z = H·Vᵀ (+ c) for `rows` hidden states with int8 V: one matrix-vector product for one row,
  /// else the packed int8 product at every SIMD level, else (portable level) the matrix-matrix
  /// kernel over every row at once (all three give the same bits).
  func int8Logits(
    _ v: Int8OutputWeights, hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) {
    if rows > 1 && packedInt8Logits(v, hidden: hidden, rows: rows, into: out, bias: bias) { return }
    let (h, o) = (hiddenSize, outputSize)
    let quantized = UnsafeMutablePointer<Int8>.allocate(capacity: rows * h)
    defer { quantized.deallocate() }
    var scales = [Float](repeating: 0, count: rows)
    for r in 0..<rows { scales[r] = Kernels.quantize(hidden + r * h, count: h, into: quantized + r * h) }
    v.withPointers { q, rowScales, sums in
      scales.withUnsafeBufferPointer { xScales in
        if rows == 1 {
          Kernels.gemvInt8(
            m: o, n: h, a: q, scales: rowScales, rowSums: sums, x: quantized, xScale: xScales[0], bias: bias,
            y: out)
        } else {
          Kernels.gemmInt8(
            m: o, n: h, a: q, scales: rowScales, rowSums: sums, x: quantized, count: rows,
            xScales: xScales.baseAddress!, bias: bias, c: out, ldc: o)
        }
      }
    }
  }

  /// The index of the largest logit of V·h + c with int8 V (the first on ties): h is quantized
  /// once, then each thread computes a block of rows and its maximum.
  func int8ArgmaxLogits(
    _ v: Int8OutputWeights, hidden: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>
  )
    -> Int
  {
    let h = hiddenSize
    var hq = [Int8](repeating: 0, count: h)
    let scale = hq.withUnsafeMutableBufferPointer {
      Kernels.quantize(hidden, count: h, into: $0.baseAddress!)
    }
    return outputBias.withUnsafeBufferPointer { c in
      hq.withUnsafeBufferPointer { hq in
        v.withPointers { q, scales, sums in
          let shared = (
            UnsafeSendable(c.baseAddress!), UnsafeSendable(q), UnsafeSendable(scales), UnsafeSendable(sums),
            UnsafeSendable(hq.baseAddress!)
          )
          return blockArgmax(scratch: scratch) { start, rows, out in
            Kernels.gemvInt8Block(
              m: rows, n: h, a: shared.1.value + start * h, scales: shared.2.value + start,
              rowSums: shared.3.value + start, x: shared.4.value, xScale: scale, bias: shared.0.value + start,
              y: out)
          }
        }
      }
    }
  }
}

// MARK: scoring with the packed int8 product (VNNI, or int16 products without it)

/// int8 V in the panels of the packed int8 product (`i8_packed.h`) of one variant (vector width):
/// NR rows per panel (VNNI: each byte + 128, 4 consecutive k per 32-bit word; widening: 2
/// consecutive k per row, bytes as they are), with the row scales padded to whole panels.
final class PackedInt8Matrix: @unchecked Sendable {
  /// The variant (RK_I8P_*) whose micro-kernel reads these panels.
  let variant: Int32
  let rows: Int
  let k: Int
  /// 64-byte aligned panels; written once in `init`, read-only after.
  let bytes: UnsafeMutablePointer<UInt8>
  let scales: UnsafeMutablePointer<Float>

  convenience init(_ matrix: QuantizedMatrix, variant: Int32) {
    self.init(rows: matrix.rows, k: matrix.columns, variant: variant) { body in
      matrix.withIntegers { q in
        matrix.scales.withUnsafeBufferPointer { s in body(q.baseAddress!, s.baseAddress!) }
      }
    }
  }

  /// Packs the int8 `rows`×`k` matrix and its row scales that `source` passes to its argument.
  init(
    rows: Int, k: Int, variant: Int32,
    source: ((UnsafePointer<Int8>, UnsafePointer<Float>) -> Void) -> Void
  ) {
    self.variant = variant
    self.rows = rows
    self.k = k
    let panel = Kernels.int8PanelRows(variant).v
    let paddedRows = (rows + panel - 1) / panel * panel
    let columns = rk_i8p_v_row_bytes(variant, k)
    let count = paddedRows * columns
    bytes = UnsafeMutableRawPointer(PackedMatrix.allocate((count + 3) / 4)).bindMemory(
      to: UInt8.self, capacity: count)
    scales = .allocate(capacity: max(1, paddedRows))
    // Panels split across the threads: packing is a copy of V, at memory speed.
    let panels = paddedRows / panel
    let parts = max(1, min(Kernels.threadCount, panels))
    let per = (panels + parts - 1) / parts
    let target = UnsafeSendable((bytes, scales))
    source { q, s in
      let source = UnsafeSendable((q, s))
      Kernels.parallelFor(parts) { part in
        let first = part * per * panel
        let count = min(rows, (part + 1) * per * panel) - first
        guard count > 0 else { return }
        let (q, s) = source.value
        let (bytes, scales) = target.value
        rk_i8p_pack_v(variant, q + first * k, count, k, s + first, bytes + first * columns, scales + first)
      }
    }
  }

  deinit {
    UnsafeMutableRawPointer(bytes).deallocate()
    scales.deallocate()
  }
}

/// The packed int8 V, made the first time scoring needs it, so that loading a model and
/// generating never pay for the copy.
final class PackedInt8Storage: Sendable {
  private let storage = Mutex<PackedInt8Matrix?>(nil)

  /// The packed V for `variant`, packing it (again, for another variant) when needed.
  func matrix(_ matrix: QuantizedMatrix, variant: Int32) -> PackedInt8Matrix {
    storage.withLock { packed in
      if let packed, packed.variant == variant { return packed }
      let made = PackedInt8Matrix(matrix, variant: variant)
      packed = made
      return made
    }
  }
}

extension Kernels {
  /// The packed int8 product's variant for the calling thread (RK_I8P_*; RK_I8P_NONE at the
  /// portable level).
  static var packedInt8Variant: Int32 {
    packedInt8Off.load(ordering: .relaxed) ? Int32(RK_I8P_NONE) : rk_i8p_variant()
  }

  /// Set only through ``KernelSelection`` (benchmarks): no thread uses the packed int8 product, so
  /// int8 V takes the matrix-matrix kernel, the path of the portable level.
  static let packedInt8Off = Atomic<Bool>(false)

  /// Whether the packed int8 product runs on the calling thread (AVX2 or AVX-512, VNNI or not).
  static var packedInt8Available: Bool { packedInt8Variant != RK_I8P_NONE }

  /// Hidden states (`x`) and rows of V (`v`) per panel of the packed int8 product of `variant`.
  static func int8PanelRows(_ variant: Int32) -> (x: Int, v: Int) { (rk_i8p_mr(variant), rk_i8p_nr(variant)) }

  /// Bytes per packed hidden state of length `k` for `variant`.
  static func int8PackedRowBytes(_ k: Int, variant: Int32) -> Int { rk_i8p_x_row_bytes(variant, k) }
}

/// Hidden states quantized into the panels of the packed int8 product, with their scales and sums.
final class PackedInt8Rows {
  let variant: Int32
  let capacity: Int
  let bytes: UnsafeMutablePointer<Int8>
  let scales: UnsafeMutablePointer<Float>
  let sums: UnsafeMutablePointer<Int32>

  /// Room for `rows` hidden states of length `k`, for `variant`.
  init(rows: Int, k: Int, variant: Int32) {
    self.variant = variant
    let panel = Kernels.int8PanelRows(variant).x
    capacity = (rows + panel - 1) / panel * panel
    let count = capacity * Kernels.int8PackedRowBytes(k, variant: variant)
    bytes = UnsafeMutableRawPointer(PackedMatrix.allocate((count + 3) / 4)).bindMemory(
      to: Int8.self, capacity: count)
    scales = .allocate(capacity: capacity)
    sums = .allocate(capacity: capacity)
  }

  deinit {
    UnsafeMutableRawPointer(bytes).deallocate()
    scales.deallocate()
    sums.deallocate()
  }

  /// Quantizes and packs `rows` (at most the capacity) hidden states of length `k`, split across
  /// the threads when there are many; false when a buffer could not be allocated.
  func pack(_ hidden: UnsafePointer<Float>, rows: Int, k: Int) -> Bool {
    let (variant, panel) = (variant, Kernels.int8PanelRows(variant).x)
    let panels = (rows + panel - 1) / panel
    let parts = panels >= 64 ? min(Kernels.threadCount, panels) : 1
    let per = (panels + parts - 1) / parts
    let columns = Kernels.int8PackedRowBytes(k, variant: variant)
    let shared = UnsafeSendable((hidden, bytes, scales, sums))
    let failures = Atomic<Int>(0)
    Kernels.parallelFor(parts) { part in
      let first = part * per * panel
      let count = min(rows, (part + 1) * per * panel) - first
      guard count > 0 else { return }
      let (hidden, bytes, scales, sums) = shared.value
      let done = rk_i8p_pack_x(
        variant, hidden + first * k, count, k, bytes + first * columns, scales + first, sums + first)
      if done == 0 { failures.add(1, ordering: .relaxed) }
    }
    return failures.load(ordering: .relaxed) == 0
  }
}

extension InferenceModel {
  /// z = H·Vᵀ (+ c) for `rows` hidden states with the packed int8 product, each thread a range of
  /// V's panels; false (the output then incomplete) when no variant runs on the calling thread or a
  /// buffer could not be allocated.
  func packedInt8Logits(
    _ weights: Int8OutputWeights, hidden: UnsafePointer<Float>, rows: Int,
    into out: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) -> Bool {
    let variant = Kernels.packedInt8Variant
    guard variant != RK_I8P_NONE else { return false }
    let v = weights.packed.matrix(weights.matrix, variant: variant)
    let (h, o) = (hiddenSize, outputSize)
    let (panel, vPanel) = Kernels.int8PanelRows(variant)
    let blockRows = min(rows, Self.int8RowBlock(k: h, panel: panel, variant: variant))
    let packed = PackedInt8Rows(rows: blockRows, k: h, variant: variant)
    let parts = max(1, min(Kernels.threadCount, (o + vPanel - 1) / vPanel))
    var start = 0
    while start < rows {
      let count = min(blockRows, rows - start)
      guard packed.pack(hidden + start * h, rows: count, k: h) else { return false }
      let shared = UnsafeSendable((packed.bytes, packed.sums, packed.scales, bias, out + start * o))
      Kernels.parallelFor(parts) { part in
        let columns = Self.columns(part: part, of: parts, total: o, panel: vPanel)
        guard !columns.isEmpty else { return }
        let (x, xSums, xScales, bias, out) = shared.value
        rk_i8p_logits(
          variant, count, h, x, xSums, xScales, v.bytes, v.scales, bias, columns.lowerBound,
          columns.upperBound,
          out + columns.lowerBound, o)
      }
      start += count
    }
    return true
  }

  /// Hidden states packed at a time for the packed int8 product: at most 8 MiB of panels. Each
  /// block reads all of V once, at ≥ 2,048 rows for H up to 4,096, so V's traffic stays small even
  /// from main memory.
  static func int8RowBlock(k: Int, panel: Int, variant: Int32) -> Int {
    max(panel, (1 << 23) / Kernels.int8PackedRowBytes(k, variant: variant) / panel * panel)
  }

  /// Scoring with int8 V and the packed int8 product: `scoreRowsPacked` with int8 panels, each
  /// thread a range of V's panels, the log-sum-exp merged per cache-sized block of logits. False
  /// (computing nothing) when V is not int8, the calling thread's kernel level is the portable one,
  /// or a buffer could not be allocated. `rowBlock` overrides
  /// the rows packed at a time, `parts` the number of column ranges (one per thread).
  func scoreRowsInt8(
    _ states: HiddenStates, targets: [Int], rowBlock: Int? = nil, parts: Int? = nil, into out: inout [Float]
  ) -> Bool {
    let variant = Kernels.packedInt8Variant
    guard case .int8 = outputWeights, variant != RK_I8P_NONE else { return false }
    let total = states.totalRows
    guard total > 0 else { return true }
    let panel = Kernels.int8PanelRows(variant).x
    let wanted = rowBlock ?? Self.int8RowBlock(k: hiddenSize, panel: panel, variant: variant)
    guard let scorer = int8RowScorer(blockRows: min(total, max(1, wanted)), parts: parts) else {
      return false
    }
    defer { scorer.release() }
    return scoreRows(states, targets: targets, with: scorer, into: &out)
  }

  /// The packed int8 product over `rows` rows of one sequence (``scoreOverlapped(tokens:chunkRows:)``),
  /// or nil when V is not int8 or the calling thread's kernel level has no packed int8 product.
  func overlapProductInt8(rows total: Int) -> OverlapProduct? {
    let variant = Kernels.packedInt8Variant
    guard case .int8(let weights) = outputWeights, variant != RK_I8P_NONE else { return nil }
    let v = weights.packed.matrix(weights.matrix, variant: variant)
    let (h, o, threads) = (hiddenSize, outputSize, Kernels.threadCount)
    let (panel, vPanel) = (Kernels.int8PanelRows(variant).x, Kernels.int8PanelRows(variant).v)
    let packed = PackedInt8Rows(rows: total, k: h, variant: variant)
    let columns = Kernels.int8PackedRowBytes(h, variant: variant)
    let vPanels = (o + vPanel - 1) / vPanel
    let shared = UnsafeSendable((packed.bytes, packed.sums, packed.scales))
    let owner = UnsafeSendable(packed)
    return OverlapProduct(
      panel: panel, columnPanel: vPanel, vBytes: o * h,
      maxRows: Self.int8RowBlock(k: h, panel: panel, variant: variant),
      // Eight ranges per thread: the last item a thread takes is short.
      parts: { _ in min(vPanels, 8 * threads) },
      scratchCount: { rows in rk_i8p_scratch_count(variant, rows, h) },
      pack: { hidden, first, count in
        let (bytes, sums, scales) = shared.value
        return rk_i8p_pack_x(
          variant, hidden + first * h, count, h, bytes + first * columns, scales + first, sums + first) != 0
      },
      score: { first, count, range, targets, pairs, scratch in
        let (bytes, sums, scales) = shared.value
        return self.outputBias.withUnsafeBufferPointer { c in
          rk_i8p_score(
            variant, count, h, bytes + first * columns, sums + first, scales + first, v.bytes, v.scales,
            c.baseAddress!, range.lowerBound, range.upperBound, targets, pairs.maxima, pairs.sums,
            pairs.picked,
            scratch) != 0
        }
      },
      release: { withExtendedLifetime(owner.value) {} })
  }

  /// A ``RowScorer`` on the packed int8 product, or nil when V is not int8 or the calling thread's
  /// kernel level has no packed int8 product. `parts` overrides the column ranges (one per thread).
  func int8RowScorer(blockRows: Int, parts: Int? = nil) -> RowScorer? {
    let variant = Kernels.packedInt8Variant
    guard case .int8(let weights) = outputWeights, variant != RK_I8P_NONE else { return nil }
    let v = weights.packed.matrix(weights.matrix, variant: variant)
    let (h, o) = (hiddenSize, outputSize)
    let vPanel = Kernels.int8PanelRows(variant).v
    let packed = PackedInt8Rows(rows: blockRows, k: h, variant: variant)
    let parts = parts ?? max(1, min(Kernels.threadCount, (o + vPanel - 1) / vPanel))
    let ranges = (0..<parts).map { Self.columns(part: $0, of: parts, total: o, panel: vPanel) }
    // Each range's block of logits, kept across calls (enough for up to `blockRows` rows).
    let scratchFloats = rk_i8p_scratch_count(variant, blockRows, h)
    let scratch = PackedMatrix.allocate(scratchFloats * parts)
    let shared = UnsafeSendable((packed.bytes, packed.sums, packed.scales, scratch))
    return RowScorer(
      blockRows: blockRows, ranges: ranges,
      pack: { hidden, count in packed.pack(hidden, rows: count, k: h) },
      score: { columns, count, targets, pairs in
        let (x, xSums, xScales, scratch) = shared.value
        let part = ranges.firstIndex(of: columns)
        let fits = part != nil && count <= blockRows
        return self.outputBias.withUnsafeBufferPointer { c in
          rk_i8p_score(
            variant, count, h, x, xSums, xScales, v.bytes, v.scales, c.baseAddress!, columns.lowerBound,
            columns.upperBound, targets, pairs.maxima, pairs.sums, pairs.picked,
            fits ? scratch + part! * scratchFloats : nil) != 0
        }
      },
      release: {
        withExtendedLifetime(packed) {}
        UnsafeMutableRawPointer(scratch).deallocate()
      })
  }
}
