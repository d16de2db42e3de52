import CBLAS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The floating-point types the trainer runs in: `Float` for training, `Double` for gradient checks.
public protocol TrainingScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable {
  /// e^x in this precision.
  static func exponential(_ x: Self) -> Self
  /// The natural logarithm in this precision.
  static func logarithm(_ x: Self) -> Self
  /// C := op(A)·op(B) + beta·C with row-major matrices, by OpenBLAS (m×k times k×n).
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int,
    b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: TrainingScalar {
  public static func exponential(_ x: Float) -> Float { expf(x) }
  public static func logarithm(_ x: Float) -> Float { logf(x) }
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasint(m),
      blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
  }
}

extension Double: TrainingScalar {
  public static func exponential(_ x: Double) -> Double { exp(x) }
  public static func logarithm(_ x: Double) -> Double { log(x) }
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
    b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    cblas_dgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasint(m),
      blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
  }
}

/// log(1 + e^x) without overflow.
@inline(__always) func softplus(_ x: Double) -> Double {
  max(x, 0) + log1p(exp(-abs(x)))
}

// The kernels below fix their summation order, so results do not depend on the machine's vector
// width: `dot` always keeps eight partial sums and adds them in the same order.

/// Σ a[i]·b[i] for i in 0..<n.
@inline(__always)
func dot<T: TrainingScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
  var acc = SIMD8<T>()
  var i = 0
  while i + 8 <= n {
    let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<T>.self)
    let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<T>.self)
    acc = acc + x * y
    i += 8
  }
  var tail: T = 0
  while i < n {
    tail += a[i] * b[i]
    i += 1
  }
  let s0 = (acc[0] + acc[4]) + (acc[2] + acc[6])
  let s1 = (acc[1] + acc[5]) + (acc[3] + acc[7])
  return (s0 + s1) + tail
}

/// y[i] += alpha·x[i] for i in 0..<n.
@inline(__always)
func axpy<T: TrainingScalar>(_ alpha: T, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
  var i = 0
  while i + 8 <= n {
    let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<T>.self)
    let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y + i).storeBytes(of: yv + alpha * xv, as: SIMD8<T>.self)
    i += 8
  }
  while i < n {
    y[i] += alpha * x[i]
    i += 1
  }
}

/// Σ x[i]² for i in 0..<n, accumulated in eight lanes of `T` per block of 4096 and then in double precision.
func sumOfSquares<T: TrainingScalar>(_ x: UnsafePointer<T>, _ n: Int) -> Double {
  var total = 0.0
  var start = 0
  while start < n {
    let count = min(4096, n - start)
    total += Double(dot(x + start, x + start, count))
    start += count
  }
  return total
}

/// The largest of x[0..<n] (n > 0); exact, so the order does not matter.
func maximum<T: TrainingScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
  var i = 0
  var best = x[0]
  if n >= 8 {
    var lanes = UnsafeRawPointer(x).loadUnaligned(as: SIMD8<T>.self)
    i = 8
    while i + 8 <= n {
      lanes = pointwiseMax(lanes, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<T>.self))
      i += 8
    }
    best = lanes.max()
  }
  while i < n {
    if x[i] > best { best = x[i] }
    i += 1
  }
  return best
}
