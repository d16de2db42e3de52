import Foundation
import Testing

@testable import RNNRuntime

/// The OpenBLAS loader: its core-type decision and its typed errors. (The kernel set it loads on
/// this machine is checked end to end in CLITests' OpenBLASKernelTests.)
@Suite struct OpenBLASTests {
  @Test func coreTypeIsRequestedOnlyWhenTheUserSetNone() {
    #expect(OpenBLAS.coreType(userSetting: nil, cpuLevel: 2) == "SkylakeX")
    #expect(OpenBLAS.coreType(userSetting: nil, cpuLevel: 1) == "Haswell")
    #expect(OpenBLAS.coreType(userSetting: nil, cpuLevel: 0) == nil)
    #expect(OpenBLAS.coreType(userSetting: "Haswell", cpuLevel: 2) == nil)
    #expect(OpenBLAS.coreType(userSetting: "Prescott", cpuLevel: 1) == nil)
  }

  /// A library that cannot be opened is a typed, one-line error naming what was tried.
  @Test func aMissingLibraryIsATypedError() {
    let names = ["libopenblas-missing-for-rnnkit-tests.so.0"]
    #expect {
      try OpenBLAS.load(names: names, coreType: nil)
    } throws: { error in
      guard case .libraryNotFound(let tried, let reason) = error as? OpenBLASError else { return false }
      let line = (error as! OpenBLASError).description
      return tried == names && reason.contains(names[0]) && line.contains(names[0]) && !line.contains("\n")
    }
  }

  /// A library without the CBLAS functions (here the C math library) is refused by name.
  @Test func aLibraryWithoutCBLASIsATypedError() {
    #expect(throws: OpenBLASError.missingFunction(name: "cblas_sgemm", library: "libm.so.6")) {
      try OpenBLAS.load(names: ["libm.so.6"], coreType: nil)
    }
  }

  /// The shared table runs a product: [1 2; 3 4]·[5 6; 7 8]ᵀ (exact in float32).
  @Test func theSharedTableMultiplies() throws {
    let blas = try OpenBLAS.shared()
    let a: [Float] = [1, 2, 3, 4]
    let b: [Float] = [5, 6, 7, 8]
    var c = [Float](repeating: 0, count: 4)
    blas.sgemm(transposeB: true, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0, c: &c, ldc: 2)
    #expect(c == [17, 23, 39, 53])
    let ad = a.map(Double.init)
    let bd = b.map(Double.init)
    var cd = [Double](repeating: 0, count: 4)
    blas.dgemm(m: 2, n: 2, k: 2, a: ad, lda: 2, b: bd, ldb: 2, beta: 0, c: &cd, ldc: 2)
    #expect(cd == [19, 22, 43, 50])
    #expect(blas.threadCount >= 1)
    print("OpenBLAS \(blas.library): kernel set \(blas.coreName), \(blas.threadCount) thread(s)")
  }
}
