import RNNRuntime

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
    _ blas: OpenBLAS, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>,
    lda: Int,
    b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: TrainingScalar {
  /// e^x.
  public static func exponential(_ x: Float) -> Float { expf(x) }
  /// The natural logarithm.
  public static func logarithm(_ x: Float) -> Float { logf(x) }
  /// C = αA·B + βC, row-major, through BLAS or the portable loop.
  public static func gemm(
    _ blas: OpenBLAS, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>,
    lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    blas.sgemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta,
      c: c, ldc: ldc)
  }
}

/// e^x.
extension Double: TrainingScalar {
  /// The natural logarithm.
  public static func exponential(_ x: Double) -> Double { exp(x) }
  /// C = αA·B + βC, row-major, through BLAS or the portable loop.
  public static func logarithm(_ x: Double) -> Double { log(x) }
  /// C = αA·B + βC, row-major, through BLAS or the portable loop.
  public static func gemm(
    _ blas: OpenBLAS, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>,
    lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    blas.dgemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta,
      c: c, ldc: ldc)
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
@inline(__always)
func maximum<T: TrainingScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
  // Four running maxima break the dependency chain; plain comparisons keep it inlined.
  var m0 = x[0]
  var m1 = m0
  var m2 = m0
  var m3 = m0
  var i = 0
  while i + 4 <= n {
    if x[i] > m0 { m0 = x[i] }
    if x[i + 1] > m1 { m1 = x[i + 1] }
    if x[i + 2] > m2 { m2 = x[i + 2] }
    if x[i + 3] > m3 { m3 = x[i + 3] }
    i += 4
  }
  while i < n {
    if x[i] > m0 { m0 = x[i] }
    i += 1
  }
  return Swift.max(Swift.max(m0, m1), Swift.max(m2, m3))
}

/// The four dots v·x0 … v·x3, each summed in exactly the order ``dot(_:_:_:)`` uses (so results are
/// bit-identical to four calls), but with four independent accumulator chains and v loaded once.
@inline(__always)
func dot4<T: TrainingScalar>(
  _ v: UnsafePointer<T>, _ x0: UnsafePointer<T>, _ x1: UnsafePointer<T>, _ x2: UnsafePointer<T>,
  _ x3: UnsafePointer<T>, _ n: Int
) -> (T, T, T, T) {
  var a0 = SIMD8<T>()
  var a1 = SIMD8<T>()
  var a2 = SIMD8<T>()
  var a3 = SIMD8<T>()
  var i = 0
  while i + 8 <= n {
    let w = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<T>.self)
    a0 = a0 + w * UnsafeRawPointer(x0 + i).loadUnaligned(as: SIMD8<T>.self)
    a1 = a1 + w * UnsafeRawPointer(x1 + i).loadUnaligned(as: SIMD8<T>.self)
    a2 = a2 + w * UnsafeRawPointer(x2 + i).loadUnaligned(as: SIMD8<T>.self)
    a3 = a3 + w * UnsafeRawPointer(x3 + i).loadUnaligned(as: SIMD8<T>.self)
    i += 8
  }
  var t0: T = 0
  var t1: T = 0
  var t2: T = 0
  var t3: T = 0
  while i < n {
    t0 += v[i] * x0[i]
    t1 += v[i] * x1[i]
    t2 += v[i] * x2[i]
    t3 += v[i] * x3[i]
    i += 1
  }
  @inline(__always) func reduce(_ acc: SIMD8<T>, _ tail: T) -> T {
    let s0 = (acc[0] + acc[4]) + (acc[2] + acc[6])
    let s1 = (acc[1] + acc[5]) + (acc[3] + acc[7])
    return (s0 + s1) + tail
  }
  return (reduce(a0, t0), reduce(a1, t1), reduce(a2, t2), reduce(a3, t3))
}

/// y_k[i] += a_k·x[i] for k in 0..<4: four ``axpy(_:_:_:_:)`` calls sharing one pass over x,
/// with the same arithmetic per element.
@inline(__always)
func axpy4<T: TrainingScalar>(
  _ a: (T, T, T, T), _ x: UnsafePointer<T>, _ y0: UnsafeMutablePointer<T>, _ y1: UnsafeMutablePointer<T>,
  _ y2: UnsafeMutablePointer<T>, _ y3: UnsafeMutablePointer<T>, _ n: Int
) {
  var i = 0
  while i + 8 <= n {
    let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<T>.self)
    let v0 = UnsafeRawPointer(y0 + i).loadUnaligned(as: SIMD8<T>.self)
    let v1 = UnsafeRawPointer(y1 + i).loadUnaligned(as: SIMD8<T>.self)
    let v2 = UnsafeRawPointer(y2 + i).loadUnaligned(as: SIMD8<T>.self)
    let v3 = UnsafeRawPointer(y3 + i).loadUnaligned(as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y0 + i).storeBytes(of: v0 + a.0 * xv, as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y1 + i).storeBytes(of: v1 + a.1 * xv, as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y2 + i).storeBytes(of: v2 + a.2 * xv, as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y3 + i).storeBytes(of: v3 + a.3 * xv, as: SIMD8<T>.self)
    i += 8
  }
  while i < n {
    y0[i] += a.0 * x[i]
    y1[i] += a.1 * x[i]
    y2[i] += a.2 * x[i]
    y3[i] += a.3 * x[i]
    i += 1
  }
}

/// y[i] += a_0·x_0[i], then a_1·x_1[i], a_2·x_2[i] and a_3·x_3[i]: four ``axpy(_:_:_:_:)`` calls in
/// that order, with y loaded and stored once.
@inline(__always)
func axpy4<T: TrainingScalar>(
  _ a: (T, T, T, T), _ x0: UnsafePointer<T>, _ x1: UnsafePointer<T>, _ x2: UnsafePointer<T>,
  _ x3: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int
) {
  var i = 0
  while i + 8 <= n {
    var yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<T>.self)
    yv = yv + a.0 * UnsafeRawPointer(x0 + i).loadUnaligned(as: SIMD8<T>.self)
    yv = yv + a.1 * UnsafeRawPointer(x1 + i).loadUnaligned(as: SIMD8<T>.self)
    yv = yv + a.2 * UnsafeRawPointer(x2 + i).loadUnaligned(as: SIMD8<T>.self)
    yv = yv + a.3 * UnsafeRawPointer(x3 + i).loadUnaligned(as: SIMD8<T>.self)
    UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: SIMD8<T>.self)
    i += 8
  }
  while i < n {
    y[i] += a.0 * x0[i]
    y[i] += a.1 * x1[i]
    y[i] += a.2 * x2[i]
    y[i] += a.3 * x3[i]
    i += 1
  }
}
