import CKernels
import Dispatch
import RNNModel

// Every call into the kernels of CKernels passes through this file (OpenBLAS's through
// OpenBLAS.swift). The kernels run at the CPU's best instruction-set level, chosen in C.
package enum Kernels {
  /// The threads OpenBLAS uses (OPENBLAS_NUM_THREADS, fixed when it loads); the runtime's own
  /// parallel loops use as many. Known without loading OpenBLAS, which requests that need no
  /// matrix product never do.
  static let threadCount = OpenBLAS.expectedThreadCount()

  static func code(_ f: HiddenActivation) -> Int32 {
    switch f {
    case .identity: return Int32(RK_IDENTITY)
    case .tanh: return Int32(RK_TANH)
    case .relu: return Int32(RK_RELU)
    case .sigmoid: return Int32(RK_SIGMOID)
    case .softsign: return Int32(RK_SOFTSIGN)
    case .softplus: return Int32(RK_SOFTPLUS)
    case .elu: return Int32(RK_ELU)
    case .silu: return Int32(RK_SILU)
    }
  }

  /// The threads a matrix-vector product of `bytes` over `rows` rows is split across: one when
  /// the matrix fits in one core's L2 cache (as the OS reports it), since such a product takes
  /// about as long as waking another thread; else the runtime's threads, at least `rowsPerThread`
  /// rows each. A row's sum never depends on the split.
  static func splitThreads(bytes: Int, rows: Int, rowsPerThread: Int) -> Int {
    bytes > cacheSize(2) ? min(threadCount, max(1, rows / rowsPerThread)) : 1
  }

  /// y[m] = A[m×n]·x + beta·y, row-major A with row stride lda, split by rows across `threads`
  /// (by default ``splitThreads(bytes:rows:rowsPerThread:)``). `reversed` takes the rows from the
  /// last to the first when on one thread (the same results).
  static func gemv(
    m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, beta: Float,
    y: UnsafeMutablePointer<Float>, threads: Int? = nil, reversed: Bool = false
  ) {
    guard m > 0, n > 0 else { return }
    let threads = threads ?? splitThreads(bytes: m * n * 4, rows: m, rowsPerThread: 64)
    if threads == 1 {
      if reversed {
        rk_gemv_f32_reversed(a, m, n, lda, x, beta, y)
      } else {
        rk_gemv_f32(a, m, n, lda, x, beta, y)
      }
      return
    }
    let chunk = (m + threads - 1) / threads
    let (aa, xx, yy) = (UnsafeSendable(a), UnsafeSendable(x), UnsafeSendable(y))
    parallelFor(threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemv_f32(aa.value + start * lda, rows, n, lda, xx.value, beta, yy.value + start)
    }
  }

  /// y[m] = A[m×n]·x + bias, with A stored as IEEE half, split across `threads` (by default
  /// ``splitThreads(bytes:rows:rowsPerThread:)``).
  static func gemvHalf(
    m: Int, n: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, threads: Int? = nil
  ) {
    let threads = threads ?? splitThreads(bytes: m * n * 2, rows: m, rowsPerThread: 256)
    if threads == 1 {
      rk_gemv_f16(a, m, n, n, x, bias, y)
      return
    }
    let chunk = (m + threads - 1) / threads
    let (aa, xx, bb, yy) = (UnsafeSendable(a), UnsafeSendable(x), UnsafeSendable(bias), UnsafeSendable(y))
    parallelFor(threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemv_f16(aa.value + start * n, rows, n, n, xx.value, bb.value.map { $0 + start }, yy.value + start)
    }
  }

  static func halfToFloat(
    _ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int
  ) {
    rk_half_to_float_n(source, destination, count)
  }

  static func activate(_ code: Int32, _ x: UnsafeMutablePointer<Float>, count: Int) {
    rk_activation(code, x, count)
  }

  static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) { rk_softmax(x, count) }

  static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) {
    activate(Int32(RK_SIGMOID), x, count: count)
  }

  /// log Σ exp(x + bias); `bias` may be nil.
  static func logSumExp(_ x: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil, count: Int) -> Float {
    rk_logsumexp(x, bias, count)
  }

  static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int { rk_argmax(x, count) }
  static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool { rk_all_finite(x, count) != 0 }

  /// y = A·x + beta·y (f32 A, row stride n), single-threaded; `reversed` takes the rows from the
  /// last to the first (the same results), for a recurrence that alternates directions.
  static func gemvF32(
    m: Int, n: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, beta: Float = 0,
    y: UnsafeMutablePointer<Float>, reversed: Bool = false
  ) {
    if reversed {
      rk_gemv_f32_reversed(a, m, n, n, x, beta, y)
    } else {
      rk_gemv_f32(a, m, n, n, x, beta, y)
    }
  }

  /// y = A·x + bias (half A, row stride n; bias may be nil), single-threaded.
  static func gemvF16(
    m: Int, n: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil,
    y: UnsafeMutablePointer<Float>
  ) {
    rk_gemv_f16(a, m, n, n, x, bias, y)
  }

  /// The instruction-set levels of the kernels (RK_LEVEL_PORTABLE …), lowest first.
  package static let levels = 0..<Int(RK_LEVEL_COUNT)

  /// The best level this CPU supports.
  package static var cpuLevel: Int { Int(rk_cpu_level()) }

  /// The level the kernels run at on this thread.
  package static var currentLevel: Int { Int(rk_level()) }

  /// A level's name, such as "avx2".
  package static func levelName(_ level: Int) -> String { String(cString: rk_level_name(Int32(level))) }

  /// Runs `body` with this thread's kernels at `level` (for tests), then restores the thread's
  /// previous level; false, without running it, when the CPU cannot run that level. Kernels that split work across threads use the CPU's level on
  /// the other threads.
  package static func atLevel(_ level: Int, _ body: () throws -> Void) rethrows -> Bool {
    let previous = rk_thread_forced_level()
    guard rk_force_level(Int32(level)) != 0 else { return false }
    defer { rk_force_level(previous) }
    try body()
    return true
  }

  /// The prefetch distance in bytes that the matrix-vector products on this thread's level chose
  /// for half (or f32) matrices, measured on the first large products; nil until then.
  static func prefetchDistance(half: Bool) -> Int? {
    let distance = rk_gemv_prefetch_distance(half ? 1 : 0)
    return distance >= 0 ? distance : nil
  }

  /// Runs `body` with this thread's matrix-vector products prefetching `distance` bytes ahead
  /// (0: not at all) instead of the measured distance (for tests).
  static func withPrefetchDistance(_ distance: Int, _ body: () throws -> Void) rethrows {
    precondition(rk_force_prefetch_distance(distance) != 0, "prefetch distance \(distance) out of range")
    defer { rk_force_prefetch_distance(-1) }
    try body()
  }

  /// Runs `body(i)` for i in 0..<count on the runtime's threads: the calling thread and the
  /// helpers of ``WorkerPool``, or, while another loop holds the pool, libdispatch's threads.
  static func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count <= 1 || threadCount == 1 {
      for i in 0..<count { body(i) }
    } else if !WorkerPool.shared.run(count: count, body) {
      // On libdispatch's threads too, at the caller's forced kernel level and features.
      let (level, features) = (rk_thread_forced_level(), rk_thread_forced_features())
      DispatchQueue.concurrentPerform(iterations: count) { i in
        let (ownLevel, ownFeatures) = (rk_thread_forced_level(), rk_thread_forced_features())
        rk_force_level(level)
        rk_force_features(features)
        body(i)
        rk_force_level(ownLevel)
        rk_force_features(ownFeatures)
      }
    }
  }
}

/// Carries a pointer into a concurrent loop whose iterations touch disjoint parts.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}

// MARK: int8 products (docs/PERFORMANCE.md, "int8 V")

extension Kernels {
  /// Quantizes `x` for the int8 products: returns the scale s = max|x|/127 (0 for a zero vector);
  /// q[i] = round(x[i]/s) ties to even.
  static func quantize(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>) -> Float {
    rk_quantize_i8(x, count, q)
  }

  /// Σ_k A[r, k] for each row of an int8 rows×cols matrix.
  static func rowSums(_ a: UnsafePointer<Int8>, rows: Int, cols: Int) -> [Int32] {
    [Int32](unsafeUninitializedCapacity: rows) { out, initialized in
      rk_row_sums_i8(a, rows, cols, out.baseAddress!)
      initialized = rows
    }
  }

  /// y = bias + diag(scales)·A·xq·xscale for int8 A (m×n, row stride n), split by rows across
  /// `threads` (by default ``splitThreads(bytes:rows:rowsPerThread:)``). `bias` may be nil.
  static func gemvInt8(
    m: Int, n: Int, a: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rowSums: UnsafePointer<Int32>,
    x: UnsafePointer<Int8>, xScale: Float, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
    threads: Int? = nil
  ) {
    let threads = threads ?? splitThreads(bytes: m * n, rows: m, rowsPerThread: 256)
    if threads == 1 {
      rk_gemv_i8(a, m, n, n, scales, rowSums, x, xScale, bias, y)
      return
    }
    let chunk = ((m + threads - 1) / threads + 3) & ~3
    let shared = (
      UnsafeSendable(a), UnsafeSendable(scales), UnsafeSendable(rowSums), UnsafeSendable(x),
      UnsafeSendable(bias),
      UnsafeSendable(y)
    )
    parallelFor(threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemv_i8(
        shared.0.value + start * n, rows, n, n, shared.1.value + start, shared.2.value + start,
        shared.3.value,
        xScale, shared.4.value.map { $0 + start }, shared.5.value + start)
    }
  }

  /// gemvInt8 on the calling thread only.
  static func gemvInt8Block(
    m: Int, n: Int, a: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rowSums: UnsafePointer<Int32>,
    x: UnsafePointer<Int8>, xScale: Float, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
  ) {
    rk_gemv_i8(a, m, n, n, scales, rowSums, x, xScale, bias, y)
  }

  /// C[i, r] = bias[r] + scales[r]·xScales[i]·(A·X[i])[r] for `count` quantized vectors X (count×n),
  /// into C with row stride ldc; split by rows of A across the runtime's threads.
  static func gemmInt8(
    m: Int, n: Int, a: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rowSums: UnsafePointer<Int32>,
    x: UnsafePointer<Int8>, count: Int, xScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    let threads = min(threadCount, max(1, m / 256))
    let chunk = ((m + threads - 1) / threads + 3) & ~3
    let shared = (
      UnsafeSendable(a), UnsafeSendable(scales), UnsafeSendable(rowSums), UnsafeSendable(x),
      UnsafeSendable(bias),
      UnsafeSendable(c), UnsafeSendable(xScales)
    )
    parallelFor(threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemm_i8(
        shared.0.value + start * n, rows, n, shared.1.value + start, shared.2.value + start, shared.3.value,
        count, shared.6.value, shared.4.value.map { $0 + start }, shared.5.value + start, ldc)
    }
  }

  /// gemmInt8 on the calling thread only.
  static func gemmInt8Block(
    m: Int, n: Int, a: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rowSums: UnsafePointer<Int32>,
    x: UnsafePointer<Int8>, count: Int, xScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    rk_gemm_i8(a, m, n, scales, rowSums, x, count, xScales, bias, c, ldc)
  }

  /// The CPU features of the int8 kernels (RK_FEATURE_VNNI), as bits.
  static var cpuFeatures: Int { Int(rk_cpu_features()) }

  /// The VNNI feature bit.
  static let vnniFeature = Int(RK_FEATURE_VNNI)

  /// Runs `body` with this thread's kernels using only `features` (for tests), then restores the
  /// thread's previous features; false, without running it, when the CPU lacks one of them.
  static func withFeatures(_ features: Int, _ body: () throws -> Void) rethrows -> Bool {
    let previous = rk_thread_forced_features()
    guard rk_force_features(Int32(features)) != 0 else { return false }
    defer { rk_force_features(previous) }
    try body()
    return true
  }
}

// MARK: bfloat16 products

extension Kernels {
  /// y = A·x + bias for bfloat16 A (m×n, row stride n), split by rows across the runtime's threads
  /// as ``splitThreads(bytes:rows:rowsPerThread:)`` decides (unless not `threaded`): widened in
  /// registers, or with `dot` on a CPU with AVX-512 BF16, x rounded to bfloat16 and summed by
  /// vdpbf16ps (see rk_gemv_bf16).
  static func gemvBFloat16(
    m: Int, n: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, dot: Bool, threaded: Bool = true
  ) {
    let dot: Int32 = dot ? 1 : 0
    let threads = threaded ? splitThreads(bytes: m * n * 2, rows: m, rowsPerThread: 256) : 1
    if threads == 1 {
      rk_gemv_bf16(a, m, n, n, x, bias, y, dot)
      return
    }
    let chunk = ((m + threads - 1) / threads + 3) & ~3
    let (aa, xx, bb, yy) = (UnsafeSendable(a), UnsafeSendable(x), UnsafeSendable(bias), UnsafeSendable(y))
    parallelFor(threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemv_bf16(
        aa.value + start * n, rows, n, n, xx.value, bb.value.map { $0 + start }, yy.value + start, dot)
    }
  }

  /// Widens `count` bfloat16 values to float (exact).
  static func bfloat16ToFloat(
    _ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int
  ) {
    rk_bf16_to_float_n(source, destination, count)
  }

  /// The AVX-512 BF16 feature bit.
  static let bfloat16Feature = Int(RK_FEATURE_BF16)
}

// MARK: the packed matrix product (C = A·Bᵀ), see gemm_template.h

/// Block sizes of the packed matrix product, chosen from the cache sizes.
typealias GEMMBlocks = rk_gemm_blocks

extension Kernels {
  /// Rows per panel of a packed A, resp. B, at `level`.
  static func panelRows(level: Int32) -> (a: Int, b: Int) { (rk_gemm_mr(level), rk_gemm_nr(level)) }

  /// Floats of `rows`×`k` copied into panels of `panel` rows (the last one zero-padded).
  static func packedCount(rows: Int, k: Int, panel: Int) -> Int { (rows + panel - 1) / panel * panel * k }

  static func blocks(level: Int32, m: Int, k: Int) -> GEMMBlocks { rk_gemm_blocking(level, m, k) }

  /// Copies rows `first ..< first + rows` of A (row stride lda) into their panels of `packed`;
  /// `first` is a multiple of the A panel height.
  static func packA(
    level: Int32, _ a: UnsafePointer<Float>, first: Int, rows: Int, k: Int, lda: Int,
    into packed: UnsafeMutablePointer<Float>
  ) {
    rk_pack_a(level, a + first * lda, rows, k, lda, packed + first * k)
  }

  /// ``packA(level:_:first:rows:k:lda:into:)`` of rows 0 ..< `rows` for the columns `columns` only.
  static func packA(
    level: Int32, _ a: UnsafePointer<Float>, rows: Int, k: Int, lda: Int, columns: Range<Int>,
    into packed: UnsafeMutablePointer<Float>
  ) {
    rk_pack_a_columns(level, a, rows, k, lda, columns.lowerBound, columns.upperBound, packed)
  }

  static func packB(
    level: Int32, _ b: UnsafePointer<Float>, rows: Int, k: Int, ldb: Int,
    into packed: UnsafeMutablePointer<Float>
  ) {
    rk_pack_b(level, b, rows, k, ldb, packed)
  }

  /// C[i, j - columns.lowerBound] = A[i]·B[j] for i < m, j in `columns` (starting at a multiple of
  /// the B panel height).
  static func gemmPacked(
    level: Int32, m: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, columns: Range<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, blocks: GEMMBlocks
  ) {
    withUnsafePointer(to: blocks) {
      rk_gemm_packed(level, m, k, a, b, columns.lowerBound, columns.upperBound, c, ldc, $0)
    }
  }

  /// C[i, j - columns.lowerBound] += A[i]·B[j]: ``gemmPacked(level:m:k:a:b:columns:c:ldc:blocks:)``
  /// adding to C.
  static func gemmPackedAdd(
    level: Int32, m: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, columns: Range<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, blocks: GEMMBlocks
  ) {
    withUnsafePointer(to: blocks) {
      rk_gemm_packed_add(level, m, k, a, b, columns.lowerBound, columns.upperBound, c, ldc, $0)
    }
  }

  /// Merges the log-sum-exp over `columns` of A·Bᵀ + bias into each row's (maxima, sums) and picks
  /// each row's target logit; false when the kernel could not allocate its buffer. `scratch`
  /// (``scoreScratchCount(_:)`` floats, reused across calls) spares it that allocation.
  static func scorePacked(
    level: Int32, m: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    bias: UnsafePointer<Float>,
    columns: Range<Int>, targets: UnsafePointer<Int>, maxima: UnsafeMutablePointer<Float>,
    sums: UnsafeMutablePointer<Float>, picked: UnsafeMutablePointer<Float>, blocks: GEMMBlocks,
    scratch: UnsafeMutablePointer<Float>? = nil
  ) -> Bool {
    withUnsafePointer(to: blocks) {
      rk_score_packed(
        level, m, k, a, b, bias, columns.lowerBound, columns.upperBound, targets, maxima, sums, picked, $0,
        scratch) != 0
    }
  }

  /// Floats of scratch that ``scorePacked(level:m:k:a:b:bias:columns:targets:maxima:sums:picked:blocks:scratch:)``
  /// needs with `blocks`: one block of logits.
  static func scoreScratchCount(_ blocks: GEMMBlocks) -> Int { blocks.mc * blocks.nc }

  /// For `rows` rows of log-sum-exp pairs kept per column range (range p's pair at p·stride + r):
  /// the largest maximum of each row into `top`, and Σ sum·e^(maximum - top) into `total`, or -1
  /// for a row with a pair not finite or a sum ≤ 0 (to merge pair by pair).
  static func mergePairs(
    level: Int32, rows: Int, parts: Int, stride: Int, maxima: UnsafePointer<Float>,
    sums: UnsafePointer<Float>,
    top: UnsafeMutablePointer<Float>, total: UnsafeMutablePointer<Float>
  ) {
    rk_merge_pairs(level, rows, parts, stride, maxima, sums, top, total)
  }

  /// Merges log-sum-exp `lse` into the running pair (maximum, sum).
  static func mergeLogSumExp(_ maximum: inout Float, _ sum: inout Float, _ lse: Float) {
    rk_lse_merge(&maximum, &sum, lse)
  }

  /// The size in bytes of the L1 data (1), L2 (2) or L3 (3) cache.
  static func cacheSize(_ level: Int32) -> Int { rk_cache_size(level) }
}
