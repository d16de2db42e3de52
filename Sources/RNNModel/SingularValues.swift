/// Singular values of a matrix, largest first, computed in portable Swift (no LAPACK).
///
/// They are the square roots of the eigenvalues of AᵀA. Forming AᵀA squares the condition number,
/// so values below about 1e-8·σ₁ are rounding noise; for reading a recurrent matrix (is σ₁ above 1?
/// how fast does the spectrum fall?) that is plenty.
public struct SingularValueSpectrum: Equatable, Sendable {
  /// How the values were found.
  public enum Method: Equatable, Sendable {
    /// Every value: the eigenvalues of AᵀA by Householder tridiagonalisation and implicit QL.
    case complete
    /// The largest values only: Lanczos iteration on AᵀA (never formed) with full
    /// reorthogonalisation, keeping those whose error bound (residual norm) is below 1e-8·σ₁².
    case lanczos(steps: Int)
  }

  /// The singular values, largest first.
  public var values: [Double]
  /// How they were computed, which says whether they are all of them.
  public var method: Method
  /// The number of columns of the matrix: how many singular values it has in all.
  public var dimension: Int

  /// Whether ``values`` holds every singular value.
  public var isComplete: Bool { values.count == dimension }

  /// The singular values of the `rows`×`columns` row-major matrix `a`: all of them when `columns` is
  /// at most `completeUpTo`, otherwise the `largest` largest by Lanczos (fewer when some have not
  /// converged). Returns nil when `a` has non-finite values.
  public init?(
    matrix a: [Double], rows: Int, columns: Int, completeUpTo: Int = 512, largest: Int = 64,
    seed: UInt64 = 0x5EED
  ) {
    precondition(a.count == rows * columns && rows > 0 && columns > 0, "a is not rows×columns")
    guard a.allSatisfy(\.isFinite) else { return nil }
    dimension = columns
    if columns <= completeUpTo {
      let gram = Self.gram(a, rows: rows, columns: columns)
      values = SymmetricEigenvalues.of(gram, n: columns).map { $0 > 0 ? $0.squareRoot() : 0 }
      method = .complete
    } else {
      let k = max(1, min(largest, columns))
      let steps = min(columns, 4 * k + 40)
      values = Self.lanczos(a, rows: rows, columns: columns, k: k, steps: steps, seed: seed)
      method = .lanczos(steps: steps)
    }
  }

  /// AᵀA, accumulated one row of A at a time (row-times-row updates, which vectorise).
  static func gram(_ a: [Double], rows: Int, columns n: Int) -> [Double] {
    var g = [Double](repeating: 0, count: n * n)
    g.withUnsafeMutableBufferPointer { g in
      a.withUnsafeBufferPointer { a in
        for r in 0..<rows {
          let row = a.baseAddress! + r * n
          for i in 0..<n {
            let scale = row[i]
            if scale == 0 { continue }
            let target = g.baseAddress! + i * n
            for j in 0..<n { target[j] += scale * row[j] }
          }
        }
      }
    }
    return g
  }

  /// The `k` largest singular values by `steps` Lanczos steps on AᵀA.
  static func lanczos(_ a: [Double], rows: Int, columns n: Int, k: Int, steps: Int, seed: UInt64) -> [Double]
  {
    var generator = SplitMix64(seed: seed)
    var basis: [[Double]] = []
    var alphas: [Double] = []
    var betas: [Double] = []
    var av = [Double](repeating: 0, count: rows)

    func randomVector() -> [Double] { (0..<n).map { _ in generator.nextUnit() - 0.5 } }
    func dot(_ x: [Double], _ y: [Double]) -> Double {
      var s = 0.0
      for i in 0..<x.count { s += x[i] * y[i] }
      return s
    }
    /// Removes the components along the basis (twice: once is not enough in floating point).
    func orthogonalise(_ w: inout [Double]) {
      for _ in 0..<2 {
        for q in basis {
          let c = dot(q, w)
          for i in 0..<n { w[i] -= c * q[i] }
        }
      }
    }
    func normalised(_ w: [Double]) -> [Double]? {
      let norm = dot(w, w).squareRoot()
      return norm > 0 ? w.map { $0 / norm } : nil
    }

    var q = normalised(randomVector()) ?? [Double](repeating: 1 / Double(n).squareRoot(), count: n)
    let scale = a.reduce(0) { max($0, abs($1)) }
    var residual = 0.0
    for step in 0..<steps {
      basis.append(q)
      // w = Aᵀ(A q)
      a.withUnsafeBufferPointer { a in
        for r in 0..<rows {
          var s = 0.0
          let row = a.baseAddress! + r * n
          for j in 0..<n { s += row[j] * q[j] }
          av[r] = s
        }
      }
      var w = [Double](repeating: 0, count: n)
      w.withUnsafeMutableBufferPointer { w in
        a.withUnsafeBufferPointer { a in
          for r in 0..<rows where av[r] != 0 {
            let row = a.baseAddress! + r * n
            let c = av[r]
            for j in 0..<n { w[j] += c * row[j] }
          }
        }
      }
      alphas.append(dot(q, w))
      orthogonalise(&w)
      let beta = dot(w, w).squareRoot()
      guard step + 1 < steps else {
        residual = beta
        break
      }
      if beta > 1e-12 * max(scale * scale, .leastNormalMagnitude) * Double(n), let next = normalised(w) {
        betas.append(beta)
        q = next
      } else {
        // The Krylov space is invariant: continue in a fresh direction, with no coupling.
        var fresh = randomVector()
        orthogonalise(&fresh)
        guard let next = normalised(fresh) else { break }
        betas.append(0)
        q = next
      }
    }
    // A Ritz value θ with eigenvector s of T is within β·|s_last| of an eigenvalue of AᵀA (β the
    // norm of the last residual); keep the leading values whose bound is below 1e-8·θ₁.
    let m = alphas.count
    let ritz = SymmetricEigenvalues.tridiagonalWithLastComponents(
      diagonal: alphas, offDiagonal: Array(betas.prefix(m - 1)))
    let top = max(ritz.first?.value ?? 0, .leastNormalMagnitude)
    var values: [Double] = []
    for (value, last) in ritz.prefix(k) {
      // All of them when the basis spans the whole space (the values are then exact).
      guard m == n || residual * abs(last) <= 1e-8 * top else { break }
      values.append(value > 0 ? value.squareRoot() : 0)
    }
    return values
  }
}

/// Eigenvalues of real symmetric matrices, for ``SingularValueSpectrum``.
public enum SymmetricEigenvalues {
  /// The eigenvalues of the symmetric `n`×`n` row-major matrix `a`, largest first: Householder
  /// reduction to tridiagonal form (about 4n³/3 operations), then implicit QL.
  public static func of(_ a: [Double], n: Int) -> [Double] {
    precondition(a.count == n * n && n > 0, "a is not n×n")
    var a = a
    var diagonal = [Double](repeating: 0, count: n)
    var offDiagonal = [Double](repeating: 0, count: max(0, n - 1))
    var v = [Double](repeating: 0, count: n)
    var p = [Double](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { a in
      let base = a.baseAddress!
      for k in 0..<max(0, n - 2) {
        // x = column k below the diagonal; reflect it onto (α, 0, …, 0).
        let start = k + 1
        var norm = 0.0
        for i in start..<n { norm += base[i * n + k] * base[i * n + k] }
        norm = norm.squareRoot()
        diagonal[k] = base[k * n + k]
        guard norm > 0 else {
          offDiagonal[k] = 0
          continue
        }
        let x0 = base[start * n + k]
        let alpha = x0 > 0 ? -norm : norm
        var vNorm = 0.0
        for i in start..<n {
          v[i] = base[i * n + k] - (i == start ? alpha : 0)
          vNorm += v[i] * v[i]
        }
        vNorm = vNorm.squareRoot()
        offDiagonal[k] = alpha
        guard vNorm > 0 else { continue }
        for i in start..<n { v[i] /= vNorm }
        // p = A' v over the trailing block (A' symmetric, so a sum of its rows).
        for i in start..<n { p[i] = 0 }
        p.withUnsafeMutableBufferPointer { p in
          for j in start..<n {
            let c = v[j]
            if c == 0 { continue }
            let row = base + j * n
            for i in start..<n { p[i] += c * row[i] }
          }
        }
        var kappa = 0.0
        for i in start..<n { kappa += v[i] * p[i] }
        // H A' H = A' − 2(v qᵀ + q vᵀ) with q = p − (vᵀp) v.
        for i in start..<n { p[i] -= kappa * v[i] }
        v.withUnsafeBufferPointer { v in
          p.withUnsafeBufferPointer { q in
            for i in start..<n {
              let row = base + i * n
              let vi = 2 * v[i]
              let qi = 2 * q[i]
              for j in start..<n { row[j] -= vi * q[j] + qi * v[j] }
            }
          }
        }
      }
      if n >= 2 {
        diagonal[n - 2] = base[(n - 2) * n + n - 2]
        offDiagonal[n - 2] = base[(n - 1) * n + n - 2]
      }
      diagonal[n - 1] = base[(n - 1) * n + n - 1]
    }
    return tridiagonal(diagonal: diagonal, offDiagonal: offDiagonal)
  }

  /// The eigenvalues of the symmetric tridiagonal matrix with `diagonal` (n) and `offDiagonal`
  /// (n − 1), largest first, by the implicit QL method with Wilkinson shifts.
  public static func tridiagonal(diagonal: [Double], offDiagonal: [Double]) -> [Double] {
    tridiagonalWithLastComponents(diagonal: diagonal, offDiagonal: offDiagonal).map(\.value)
  }

  /// The eigenvalues of a symmetric tridiagonal matrix, largest first, each with the last
  /// component of its unit eigenvector (what Lanczos needs for its error bounds).
  static func tridiagonalWithLastComponents(diagonal: [Double], offDiagonal: [Double]) -> [(
    value: Double, last: Double
  )] {
    let n = diagonal.count
    precondition(offDiagonal.count == max(0, n - 1), "the off-diagonal needs n − 1 entries")
    var d = diagonal
    var e = offDiagonal + [0]
    // The last row of the accumulated rotations: the eigenvectors' last components.
    var z = [Double](repeating: 0, count: n)
    if n > 0 { z[n - 1] = 1 }
    for l in 0..<n {
      var iterations = 0
      while true {
        // Find a negligible off-diagonal entry: the block l…m splits off.
        var m = l
        while m < n - 1 {
          let scale = abs(d[m]) + abs(d[m + 1])
          if abs(e[m]) <= Double.ulpOfOne * scale { break }
          m += 1
        }
        if m == l { break }
        iterations += 1
        // 60 sweeps never happen on finite input; the cap only guards against a hang.
        if iterations > 60 { break }
        var g = (d[l + 1] - d[l]) / (2 * e[l])
        var r = hypot(g, 1)
        g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
        var s = 1.0
        var c = 1.0
        var p = 0.0
        var i = m - 1
        var deflated = false
        while i >= l {
          let f = s * e[i]
          let b = c * e[i]
          r = hypot(f, g)
          e[i + 1] = r
          if r == 0 {
            d[i + 1] -= p
            e[m] = 0
            deflated = true
            break
          }
          s = f / r
          c = g / r
          g = d[i + 1] - p
          r = (d[i] - g) * s + 2 * c * b
          p = s * r
          d[i + 1] = g + p
          g = c * r - b
          let zi = z[i + 1]
          z[i + 1] = s * z[i] + c * zi
          z[i] = c * z[i] - s * zi
          i -= 1
        }
        if deflated { continue }
        d[l] -= p
        e[l] = g
        e[m] = 0
      }
    }
    return zip(d, z).map { (value: $0, last: $1) }.sorted { $0.value > $1.value }
  }

  private static func hypot(_ x: Double, _ y: Double) -> Double {
    let ax = abs(x)
    let ay = abs(y)
    let big = max(ax, ay)
    guard big > 0 else { return 0 }
    let small = min(ax, ay) / big
    return big * (1 + small * small).squareRoot()
  }
}

extension ElmanModel {
  /// The singular values of W_h (see ``SingularValueSpectrum``): all of them up to H =
  /// `completeUpTo`, the `largest` largest above. Nil when W_h has non-finite values.
  public func recurrentSingularValues(completeUpTo: Int = 512, largest: Int = 64) -> SingularValueSpectrum? {
    SingularValueSpectrum(
      matrix: recurrentMatrix(), rows: hiddenSize, columns: hiddenSize, completeUpTo: completeUpTo,
      largest: largest)
  }
}
