import Foundation
import RNNKit
import Testing

/// Debian's OpenBLAS 0.3.21 falls back to its generic "Prescott" kernels on CPUs it does not know,
/// several times slower (docs/PERFORMANCE.md). RNNKit loads OpenBLAS itself and asks for the kernel
/// set the CPU can run; these tests print the set OpenBLAS reports and check that it is a fast one
/// wherever the CPU has AVX2 or AVX-512.
@Suite struct OpenBLASKernelTests {
  /// The CPU's feature flags, read from the kernel (independent of RNNKit's own detection).
  static let cpuFlags: Set<Substring> = {
    let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    return Set(line.split(separator: " "))
  }()
  static var hasAVX2: Bool { cpuFlags.isSuperset(of: ["avx2", "fma"]) }
  static var hasAVX512: Bool {
    hasAVX2 && cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"])
  }

  /// OpenBLAS's kernel sets with AVX2 and FMA matrix-product kernels, and those with AVX-512 ones.
  static let avx2Sets: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]
  static let avx512Sets: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

  /// In this process, with the environment as given (which may choose a core type itself).
  @Test func thisProcessRunsAFastKernelSet() throws {
    let blas = try OpenBLAS.shared()
    let requested =
      blas.requestedCoreType
      ?? "none (OPENBLAS_CORETYPE=\(getenv("OPENBLAS_CORETYPE").map { String(cString: $0) } ?? "unset"))"
    print(
      "OpenBLAS (\(blas.library)) kernel set: \(blas.coreName); requested: \(requested); CPU: AVX2 \(Self.hasAVX2), AVX-512 \(Self.hasAVX512)"
    )
    if Self.hasAVX2 {
      #expect(
        Self.avx2Sets.contains(blas.coreName.lowercased()),
        "OpenBLAS runs \(blas.coreName) on a CPU with AVX2")
    }
  }

  /// In a child whose environment has no OPENBLAS_CORETYPE, the loader alone must pick a fast set:
  /// OpenBLAS reports the set it loads when OPENBLAS_VERBOSE=2. The child's outputs must agree with
  /// this process's, whichever kernels each runs. (`forward` computes every step's logits with one
  /// OpenBLAS product; scoring and generation no longer load OpenBLAS at all.)
  @Test func withoutACoreTypeTheLoaderPicksAFastKernelSet() throws {
    let arguments = [
      "forward", CLI.fixture("cuisine.rnn"), "--text",
      "my favourite dish is sushi . so , my favourite cuisine is",
      "--json",
    ]
    let child = try CLI.run(
      arguments, environment: ["OPENBLAS_VERBOSE": "2"], removing: ["OPENBLAS_CORETYPE"])
    let parent = try CLI.run(arguments)
    #expect(child.status == 0 && parent.status == 0, "\(child.stderr) \(parent.stderr)")
    let reported = child.stderr.split(separator: "\n").first { $0.hasPrefix("Core: ") }.map {
      String($0.dropFirst(6))
    }
    print("child without OPENBLAS_CORETYPE: OpenBLAS kernel set \(reported ?? "not reported")")
    let name = try #require(reported, "OpenBLAS did not report its kernel set: \(child.stderr)").lowercased()
    if Self.hasAVX512 {
      #expect(Self.avx512Sets.contains(name), "\(name) on a CPU with AVX-512")
    } else if Self.hasAVX2 {
      #expect(Self.avx2Sets.contains(name), "\(name) on a CPU with AVX2")
    }
    func outputs(_ output: String) throws -> [Double] {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
      let steps = try #require(object["output"] as? [[Double]])
      return steps.flatMap { $0 }
    }
    let a = try outputs(child.stdout)
    let b = try outputs(parent.stdout)
    #expect(a.count == b.count && !a.isEmpty)
    // Different kernels sum in different orders: probabilities agree to 1e-6 (float32 rounding).
    for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-6, "\(x) vs \(y)") }
  }
}
