import CKernels
import Synchronization

/// An instruction-set level of the runtime's SIMD kernels.
public enum KernelLevel: String, Sendable, CaseIterable {
  /// No SIMD instructions beyond the compiler's baseline.
  case portable
  /// AVX2 with FMA and F16C.
  case avx2
  /// AVX-512 (F, BW, DQ, VL).
  case avx512

  /// The level's number in the kernels (RK_LEVEL_*).
  var number: Int32 {
    switch self {
    case .portable: Int32(RK_LEVEL_PORTABLE)
    case .avx2: Int32(RK_LEVEL_AVX2)
    case .avx512: Int32(RK_LEVEL_AVX512)
    }
  }
}

/// Which kernels the runtime runs, for benchmarks that measure on one machine the kernels a CPU
/// with fewer features would run. Results do not depend on the choice: every level gives the
/// same bits where the runtime promises so (int8 V), and the same accuracy elsewhere.
public enum KernelSelection {
  /// The best level this CPU runs.
  public static var cpuLevel: KernelLevel {
    KernelLevel.allCases.first { $0.number == rk_cpu_level() } ?? .portable
  }

  /// Whether this CPU has a VNNI extension (AVX-512 VNNI or AVX-VNNI).
  public static var cpuHasVNNI: Bool {
    rk_cpu_features() & Int32(RK_FEATURE_VNNI | RK_FEATURE_AVX_VNNI) != 0
  }

  /// The prefetch distance in bytes that the matrix-vector products of f32 matrices (of half
  /// matrices when `half`) chose at the calling thread's level (0: none), nil while the first large
  /// products still measure it; for benchmarks that report what was measured.
  public static func prefetchDistance(half: Bool = false) -> Int? { Kernels.prefetchDistance(half: half) }

  /// Makes every thread run the kernels at `level`, without VNNI when `vnni` is false (the
  /// kernels of a CPU without it), and int8 V's logits by the int8 matrix-matrix kernel instead
  /// of the packed int8 product when `packedInt8` is false (the path before the packed product
  /// existed). Call it before a model runs. False, changing nothing, when this CPU cannot run
  /// `level`.
  @discardableResult
  public static func force(level: KernelLevel, vnni: Bool = true, packedInt8: Bool = true) -> Bool {
    let features = vnni ? -1 : rk_cpu_features() & ~Int32(RK_FEATURE_VNNI | RK_FEATURE_AVX_VNNI)
    guard rk_force_process_level(level.number, features) != 0 else { return false }
    Kernels.packedInt8Off.store(!packedInt8, ordering: .relaxed)
    return true
  }
}
