import Foundation
import RNNModel
import Testing

/// An orthogonal n×n matrix: a product of Householder reflections I − 2vvᵀ with random unit v.
private func orthogonal(_ n: Int, seed: UInt64) -> [Double] {
  var generator = SplitMix64(seed: seed)
  var q = [Double](repeating: 0, count: n * n)
  for i in 0..<n { q[i * n + i] = 1 }
  for _ in 0..<4 {
    var v = (0..<n).map { _ in generator.nextUnit() - 0.5 }
    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    v = v.map { $0 / norm }
    // q ← q·(I − 2vvᵀ)
    for r in 0..<n {
      var dot = 0.0
      for j in 0..<n { dot += q[r * n + j] * v[j] }
      for j in 0..<n { q[r * n + j] -= 2 * dot * v[j] }
    }
  }
  return q
}

/// U·diag(σ)·Vᵀ for orthogonal U and V: a matrix whose singular values are exactly `sigma`.
private func matrix(singularValues sigma: [Double], seed: UInt64) -> [Double] {
  let n = sigma.count
  let u = orthogonal(n, seed: seed)
  let v = orthogonal(n, seed: seed &+ 1)
  var a = [Double](repeating: 0, count: n * n)
  for i in 0..<n {
    for j in 0..<n {
      var s = 0.0
      for k in 0..<n { s += u[i * n + k] * sigma[k] * v[j * n + k] }
      a[i * n + j] = s
    }
  }
  return a
}

@Suite struct SpectrumTests {
  @Test func eigenvaluesOfASymmetricMatrixWithKnownSpectrum() {
    let n = 40
    var generator = SplitMix64(seed: 7)
    let lambda = (0..<n).map { _ in generator.nextUnit() * 6 - 3 }
    let q = orthogonal(n, seed: 11)
    var a = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
      for j in 0..<n {
        var s = 0.0
        for k in 0..<n { s += q[i * n + k] * lambda[k] * q[j * n + k] }
        a[i * n + j] = s
      }
    }
    let found = SymmetricEigenvalues.of(a, n: n)
    // Householder + QL is backward stable: errors of a few ulps of ‖A‖ ≈ 3, so 1e-12 absolute.
    for (x, y) in zip(found, lambda.sorted(by: >)) { #expect(abs(x - y) <= 1e-12, "\(x) vs \(y)") }
  }

  @Test func smallAndDegenerateCases() {
    #expect(SymmetricEigenvalues.of([5], n: 1) == [5])
    let pair = SymmetricEigenvalues.of([2, 1, 1, 2], n: 2)
    #expect(abs(pair[0] - 3) <= 1e-15 && abs(pair[1] - 1) <= 1e-15)
    // Already diagonal, with a repeated value: nothing to reflect.
    #expect(SymmetricEigenvalues.of([4, 0, 0, 0, -1, 0, 0, 0, 4], n: 3) == [4, 4, -1])
    #expect(SymmetricEigenvalues.tridiagonal(diagonal: [1, 1, 1], offDiagonal: [0, 0]) == [1, 1, 1])
  }

  @Test func completeSingularValuesMatchTheConstruction() throws {
    let n = 30
    var generator = SplitMix64(seed: 3)
    let sigma = (0..<n).map { _ in 0.1 + generator.nextUnit() * 3 }.sorted(by: >)
    let spectrum = try #require(
      SingularValueSpectrum(matrix: matrix(singularValues: sigma, seed: 5), rows: n, columns: n))
    #expect(spectrum.method == .complete && spectrum.isComplete)
    // Through AᵀA: an eigenvalue error of ~1e-15·σ₁² becomes ~1e-15·σ₁²/(2σᵢ) in σᵢ ≥ 0.1.
    for (x, y) in zip(spectrum.values, sigma) { #expect(abs(x - y) <= 1e-12, "\(x) vs \(y)") }
  }

  @Test func lanczosFindsTheLargestSingularValues() throws {
    // Well separated at the top (σᵢ = 2·0.93ⁱ): every requested value converges.
    let n = 160
    let separated = (0..<n).map { 2 * pow(0.93, Double($0)) }
    let spectrum = try #require(
      SingularValueSpectrum(
        matrix: matrix(singularValues: separated, seed: 21), rows: n, columns: n, completeUpTo: 100,
        largest: 20))
    #expect(spectrum.method == .lanczos(steps: 120))
    #expect(spectrum.values.count == 20)
    for (x, y) in zip(spectrum.values, separated) {
      #expect(abs(x - y) <= 1e-9 * separated[0], "\(x) vs \(y)")
    }
  }

  @Test func lanczosKeepsOnlyConvergedValuesOfADenseSpectrum() throws {
    // Uniform in [0, 2]: neighbours 0.0125 apart, so fewer converge; those kept must be right to
    // within their bound (an eigenvalue error of 1e-8·σ₁² is at most 1e-8·σ₁ in σ ≥ σ₁/2).
    let n = 160
    var generator = SplitMix64(seed: 9)
    let dense = (0..<n).map { _ in generator.nextUnit() * 2 }.sorted(by: >)
    let spectrum = try #require(
      SingularValueSpectrum(
        matrix: matrix(singularValues: dense, seed: 21), rows: n, columns: n, completeUpTo: 100, largest: 20))
    #expect(spectrum.values.count >= 5 && spectrum.values.count <= 20)
    for (x, y) in zip(spectrum.values, dense) { #expect(abs(x - y) <= 1e-8 * dense[0], "\(x) vs \(y)") }
  }

  @Test func lanczosSurvivesAnInvariantSubspace() throws {
    // 0.5·I: every Krylov space is one-dimensional, so the iteration must restart to find more.
    let n = 120
    var a = [Double](repeating: 0, count: n * n)
    for i in 0..<n { a[i * n + i] = 0.5 }
    let spectrum = try #require(
      SingularValueSpectrum(matrix: a, rows: n, columns: n, completeUpTo: 10, largest: 8))
    #expect(spectrum.values.count == 8)
    for value in spectrum.values { #expect(abs(value - 0.5) <= 1e-12) }
  }

  @Test func nonFiniteMatricesHaveNoSpectrum() {
    #expect(SingularValueSpectrum(matrix: [1, .nan, 0, 1], rows: 2, columns: 2) == nil)
  }
}

@Suite struct HistogramTests {
  @Test func binsCountFiniteValuesAndNonFiniteApart() {
    let values: [Float] = [0, 0.1, 0.5, 0.99, 1, 1, .nan, .infinity, -.infinity, -.infinity]
    let histogram = values.withUnsafeBufferPointer { TensorHistogram($0, bins: 4) }
    #expect(histogram.lowerBound == 0 && histogram.upperBound == 1)
    // Bins of 0.25: [0, 0.25) has 0 and 0.1; [0.5, 0.75) has 0.5; the last bin holds 0.99 and both 1s.
    #expect(histogram.counts == [2, 0, 1, 3])
    #expect(
      histogram.nanCount == 1 && histogram.positiveInfinityCount == 1 && histogram.negativeInfinityCount == 2)
    #expect(histogram.finiteCount == 6)
  }

  @Test func aGivenRangeClampsOutliersIntoTheEndBins() {
    let values: [Float] = [-5, 0.2, 0.6, 9e30]
    let histogram = values.withUnsafeBufferPointer { TensorHistogram($0, bins: 2, range: 0...1) }
    #expect(histogram.counts == [2, 2])
  }

  @Test func constantAndEmptyTensors() {
    let constant: [Float] = [3, 3, 3]
    let one = constant.withUnsafeBufferPointer { TensorHistogram($0, bins: 5) }
    #expect(one.counts == [3, 0, 0, 0, 0] && one.binWidth == 0)
    let none: [Float] = [.nan]
    let empty = none.withUnsafeBufferPointer { TensorHistogram($0, bins: 3) }
    #expect(empty.counts == [0, 0, 0] && empty.nanCount == 1 && empty.sparkline == "   ")
  }

  @Test func sparklineScalesToTheFullestBinAndKeepsRareBinsVisible() {
    let values: [Float] = Array(repeating: 0, count: 1000) + [0.5] + Array(repeating: 1, count: 500)
    let histogram = values.withUnsafeBufferPointer { TensorHistogram($0, bins: 4) }
    #expect(histogram.counts == [1000, 0, 1, 500])
    #expect(histogram.sparkline == "█ ▁▄")
  }
}
