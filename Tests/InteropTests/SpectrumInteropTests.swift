import Foundation
import RNNKit
import TestSupport
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// Runs `python3 script args` from the repository root. A missing python3 or numpy makes the
/// script fail, and so the test: nothing here is skipped.
private func python(_ script: String, _ arguments: [String]) throws -> (
  status: Int32, stdout: Data, stderr: String
) {
  let result = try PythonClient.run(script: script, arguments)
  return (result.status, result.stdout, result.stderrText)
}

/// The report's portable singular values and spectral radius against numpy's LAPACK.
@Suite(.requiresPython("numpy")) struct SpectrumInteropTests {
  func numpy(_ path: String) throws -> (sigma: [Double], rho: Double) {
    let result = try python("scripts/report/numpy_spectrum.py", [path])
    try #require(result.status == 0, "numpy_spectrum.py failed: \(result.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    return (
      try #require(object["singular_values"] as? [Double]), try #require(object["spectral_radius"] as? Double)
    )
  }

  @Test func everySingularValueOfTheCuisineModel() throws {
    let path = root.appendingPathComponent("Fixtures/cuisine.rnn").path
    let model = try ElmanModel.load(path: path)
    let reference = try numpy(path)
    let ours = try #require(model.recurrentSingularValues())
    #expect(ours.method == .complete && ours.values.count == 64)
    // Through W_hᵀW_h: errors of ~1e-16·σ₁²/σᵢ; σ₁ ≈ 5.5 and σ_min ≈ 0.015 give under 1e-11.
    for (x, y) in zip(ours.values, reference.sigma) { #expect(abs(x - y) <= 1e-11, "\(x) vs \(y)") }
    // Power iteration's geometric-mean growth converges slowly when |λ₂| is close to |λ₁|; 1%.
    let rho = try #require(model.recurrentSpectralRadius())
    #expect(abs(rho - reference.rho) <= 0.01 * reference.rho, "\(rho) vs \(reference.rho)")
  }

  @Test func theLargestSingularValuesOfABigRandomW_h() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-spectrum-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("h600.rnn").path
    let written = try python(
      "scripts/interop/write_rnn.py", [path, "--vocab", "20", "--hidden", "600", "--seed", "4"])
    try #require(written.status == 0, "write_rnn.py failed: \(written.stderr)")
    let model = try ElmanModel.load(path: path)
    let reference = try numpy(path)
    // H = 600 is above the complete method's limit of 512: Lanczos, top 64.
    let ours = try #require(model.recurrentSingularValues())
    #expect(ours.method == .lanczos(steps: 296))
    // A random matrix's top singular values crowd together; at least a third converge.
    #expect(ours.values.count >= 20 && ours.values.count <= 64)
    // Kept values have an eigenvalue error bound of 1e-8·σ₁², so σ within 1e-8·σ₁ near the top.
    for (x, y) in zip(ours.values, reference.sigma) {
      #expect(abs(x - y) <= 1e-8 * reference.sigma[0], "\(x) vs \(y)")
    }
  }
}
