import CKernels
import Dispatch
import RNNModel

// Every call into the kernels of CKernels passes through this file (OpenBLAS's through
// OpenBLAS.swift). The kernels run at the CPU's best instruction-set level, chosen in C.
enum Kernels {
  /// The threads OpenBLAS uses (OPENBLAS_NUM_THREADS, fixed when it loads); the runtime's own
  /// parallel loops use as many. One when OpenBLAS is missing (nothing that needs it then runs).
  static let threadCount = (try? OpenBLAS.shared())?.threadCount ?? 1

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

  /// y[m] = A[m×n]·x + beta·y, row-major A with row stride lda. Matrices of a million elements or
  /// more are split by rows across the runtime's threads (each thread's rows then stay in its cache).
  static func gemv(
    m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, beta: Float,
    y: UnsafeMutablePointer<Float>
  ) {
    guard m > 0, n > 0 else { return }
    let threads = m * n >= 1 << 20 ? min(threadCount, max(1, m / 64)) : 1
    if threads == 1 {
      rk_gemv_f32(a, m, n, lda, x, beta, y)
      return
    }
    let chunk = ((m + threads - 1) / threads + 3) & ~3
    let (aa, xx, yy) = (UnsafeSendable(a), UnsafeSendable(x), UnsafeSendable(y))
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      let start = t * chunk
      let rows = min(chunk, m - start)
      guard rows > 0 else { return }
      rk_gemv_f32(aa.value + start * lda, rows, n, lda, xx.value, beta, yy.value + start)
    }
  }

  /// y[m] = A[m×n]·x + bias, with A stored as IEEE half, split across the runtime's threads.
  static func gemvHalf(
    m: Int, n: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>
  ) {
    let threads = min(threadCount, max(1, m / 256))
    if threads == 1 {
      rk_gemv_f16(a, m, n, n, x, bias, y)
      return
    }
    // Row blocks that are multiples of 4 keep the four-row kernel on its fast path.
    let chunk = ((m + threads - 1) / threads + 3) & ~3
    let (aa, xx, bb, yy) = (UnsafeSendable(a), UnsafeSendable(x), UnsafeSendable(bias), UnsafeSendable(y))
    DispatchQueue.concurrentPerform(iterations: threads) { t in
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

  /// y = A·x + beta·y (f32 A, row stride n), single-threaded.
  static func gemvF32(
    m: Int, n: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, beta: Float = 0,
    y: UnsafeMutablePointer<Float>
  ) {
    rk_gemv_f32(a, m, n, n, x, beta, y)
  }

  /// y = A·x + bias (half A, row stride n; bias may be nil), single-threaded.
  static func gemvF16(
    m: Int, n: Int, a: UnsafePointer<UInt16>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil,
    y: UnsafeMutablePointer<Float>
  ) {
    rk_gemv_f16(a, m, n, n, x, bias, y)
  }

  /// The instruction-set levels of the kernels (RK_LEVEL_PORTABLE …), lowest first.
  static let levels = 0..<Int(RK_LEVEL_COUNT)

  /// The best level this CPU supports.
  static var cpuLevel: Int { Int(rk_cpu_level()) }

  /// The level the kernels run at on this thread.
  static var currentLevel: Int { Int(rk_level()) }

  /// A level's name, such as "avx2".
  static func levelName(_ level: Int) -> String { String(cString: rk_level_name(Int32(level))) }

  /// Runs `body` with this thread's kernels at `level` (for tests); false, without running it, when
  /// the CPU cannot run that level. Kernels that split work across threads use the CPU's level on
  /// the other threads.
  static func atLevel(_ level: Int, _ body: () throws -> Void) rethrows -> Bool {
    guard rk_force_level(Int32(level)) != 0 else { return false }
    defer { rk_force_level(-1) }
    try body()
    return true
  }

  /// Runs `body(i)` for i in 0..<count on the runtime's threads.
  static func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count <= 1 || threadCount == 1 {
      for i in 0..<count { body(i) }
    } else {
      DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
  }
}

/// Carries a pointer into a concurrent loop whose iterations touch disjoint parts.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
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

  /// Merges the log-sum-exp over `columns` of A·Bᵀ + bias into each row's (maxima, sums) and picks
  /// each row's target logit; false when the kernel could not allocate its buffer.
  static func scorePacked(
    level: Int32, m: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    bias: UnsafePointer<Float>,
    columns: Range<Int>, targets: UnsafePointer<Int>, maxima: UnsafeMutablePointer<Float>,
    sums: UnsafeMutablePointer<Float>, picked: UnsafeMutablePointer<Float>, blocks: GEMMBlocks
  ) -> Bool {
    withUnsafePointer(to: blocks) {
      rk_score_packed(
        level, m, k, a, b, bias, columns.lowerBound, columns.upperBound, targets, maxima, sums, picked, $0)
        != 0
    }
  }

  /// Merges log-sum-exp `lse` into the running pair (maximum, sum).
  static func mergeLogSumExp(_ maximum: inout Float, _ sum: inout Float, _ lse: Float) {
    rk_lse_merge(&maximum, &sum, lse)
  }

  /// The size in bytes of the L1 data (1), L2 (2) or L3 (3) cache.
  static func cacheSize(_ level: Int32) -> Int { rk_cache_size(level) }
}
