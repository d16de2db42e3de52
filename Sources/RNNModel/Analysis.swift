#if canImport(Glibc)
  import Glibc
#else
  import Foundation
#endif

/// Summary statistics of a tensor's values, computed in double precision over finite values.
public struct TensorStatistics: Equatable, Sendable {
  /// How many values there are.
  public var count: Int
  /// The smallest finite value.
  public var min: Double
  /// The largest finite value.
  public var max: Double
  /// The mean of the finite values.
  public var mean: Double
  /// Population standard deviation.
  public var standardDeviation: Double
  /// How many values are NaN.
  public var nanCount: Int
  /// How many values are infinite.
  public var infCount: Int

  /// Computes the statistics in one pass (Welford's update keeps the variance exact enough for
  /// large tensors).
  public init(_ values: UnsafeBufferPointer<Float>) {
    var lo = Double.infinity
    var hi = -Double.infinity
    var mean = 0.0
    var m2 = 0.0
    var finite = 0
    var nan = 0
    var inf = 0
    for v in values {
      if v.isNaN {
        nan += 1
        continue
      }
      if v.isInfinite {
        inf += 1
        continue
      }
      let x = Double(v)
      finite += 1
      lo = Swift.min(lo, x)
      hi = Swift.max(hi, x)
      let delta = x - mean
      mean += delta / Double(finite)
      m2 += delta * (x - mean)
    }
    count = values.count
    min = finite > 0 ? lo : .nan
    max = finite > 0 ? hi : .nan
    self.mean = finite > 0 ? mean : .nan
    standardDeviation = finite > 0 ? (m2 / Double(finite)).squareRoot() : .nan
    nanCount = nan
    infCount = inf
  }
}

extension Parameter {
  /// Statistics of the parameter's values.
  public func statistics() -> TensorStatistics {
    withFloats { TensorStatistics($0) }
  }
}

extension ElmanModel {
  /// The recurrent block W_h (H×H), the first H columns of W, in double precision.
  public func recurrentMatrix() -> [Double] {
    let h = hiddenSize
    let width = W.shape[1]
    return W.withFloats { w in
      var out = [Double](repeating: 0, count: h * h)
      for i in 0..<h {
        for j in 0..<h { out[i * h + j] = Double(w[i * width + j]) }
      }
      return out
    }
  }

  /// An estimate of the spectral radius of W_h: the geometric-mean growth rate of power iteration.
  ///
  /// Plain power iteration oscillates when the dominant eigenvalues are a complex pair, which is
  /// common for recurrent weights; the average log growth over many steps converges to the radius
  /// either way. Returns nil when W_h has non-finite values.
  public func recurrentSpectralRadius(iterations: Int = 300) -> Double? {
    let h = hiddenSize
    let a = recurrentMatrix()
    guard a.allSatisfy(\.isFinite) else { return nil }
    // A fixed, dense start vector keeps the estimate deterministic.
    var v = (0..<h).map { 1.0 + Double($0 % 7) * 0.1 }
    var norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    v = v.map { $0 / norm }
    var next = [Double](repeating: 0, count: h)
    let burnIn = iterations / 3
    var logSum = 0.0
    var counted = 0
    for step in 0..<iterations {
      for i in 0..<h {
        var sum = 0.0
        let row = i * h
        for j in 0..<h { sum += a[row + j] * v[j] }
        next[i] = sum
      }
      norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
      if norm == 0 { return 0 }
      if step >= burnIn {
        logSum += log(norm)
        counted += 1
      }
      for i in 0..<h { v[i] = next[i] / norm }
    }
    return exp(logSum / Double(counted))
  }

  /// A one-line reading of a spectral radius for users.
  public static func spectralRadiusReading(_ rho: Double) -> String {
    if rho > 1.05 {
      return "above 1: activations and gradients can grow step by step and explode over long sequences"
    } else if rho >= 0.9 {
      return "close to 1: signals persist across many steps without exploding (the healthy range)"
    } else if rho >= 0.5 {
      return "below 1: old inputs fade; gradients shrink over long sequences"
    } else {
      return "far below 1: gradients vanish within a few steps, so long-range dependencies are hard to learn"
    }
  }
}
