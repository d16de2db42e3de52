import CBLAS
import CKernels

#if canImport(Glibc)
  import Glibc
#endif

/// Debian's OpenBLAS (0.3.21) does not know recent Intel server CPUs and falls back to its generic
/// "Prescott" kernels, which run sgemm 5–10× slower than the CPU can. OpenBLAS picks its kernels
/// once, when it loads, from `OPENBLAS_CORETYPE`; so a program can only fix this by setting the
/// variable and starting again. ``BLASTuning`` tells whether that would help.
public enum BLASTuning {
  /// The kernel set OpenBLAS chose, such as `Prescott` or `SkylakeX`.
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// The core type to ask for when OpenBLAS fell back to generic kernels on a CPU with AVX-512
  /// (`SkylakeX`) or AVX2 and FMA (`Haswell`); nil when OpenBLAS already chose well, or the user set
  /// `OPENBLAS_CORETYPE` themselves.
  public static var betterCoreType: String? {
    guard getenv("OPENBLAS_CORETYPE") == nil, coreName.lowercased() == "prescott" else { return nil }
    switch rk_cpu_level() {
    case 2: return "SkylakeX"
    case 1: return "Haswell"
    default: return nil
    }
  }
}
