import CKernels
import Dispatch
import RNNModel

// Every call into the kernels of CKernels passes through this file (OpenBLAS's through
// OpenBLAS.swift). The kernels run at the CPU's best instruction-set level, chosen in C.
enum Kernels {
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
    let chunk = (m + threads - 1) / threads
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
    let chunk = (m + threads - 1) / threads
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
