import CKernels

#if canImport(Glibc)
  import Glibc
#endif

// The one boundary to OpenBLAS: every dlopen, dlsym, getenv and setenv of RNNKit's BLAS use is in
// this file. RNNRuntime and RNNTraining call OpenBLAS only through the table loaded here.

/// Why OpenBLAS could not be used. Each case renders as one line.
public enum OpenBLASError: Error, CustomStringConvertible, Sendable, Equatable {
  /// No library name could be opened; `reason` is the dynamic loader's message for the first one.
  case libraryNotFound(tried: [String], reason: String)
  /// The library lacks a function RNNKit calls.
  case missingFunction(name: String, library: String)

  public var description: String {
    switch self {
    case .libraryNotFound(let tried, let reason):
      return
        "OpenBLAS could not be loaded (tried \(tried.joined(separator: ", "))): \(reason); install OpenBLAS (Debian package libopenblas0)"
    case .missingFunction(let name, let library):
      return "\(library) has no function \(name), so it is not an OpenBLAS that RNNKit can use"
    }
  }
}

/// OpenBLAS, loaded with `dlopen` the first time it is needed, as one table of the functions RNNKit
/// calls. Nothing links against it, so a machine without OpenBLAS still runs everything that needs
/// no matrix product, and gets ``OpenBLASError`` from what does.
///
/// OpenBLAS chooses its kernel set once, while it loads, from the CPU or from `OPENBLAS_CORETYPE`.
/// Debian's OpenBLAS 0.3.21 does not know every recent CPU and then falls back to its generic
/// "Prescott" kernels, several times slower. So, unless the user set `OPENBLAS_CORETYPE`, the
/// loader asks for the newest kernel set this CPU can run (``coreType(userSetting:cpuLevel:)``),
/// with the variable set only while `dlopen` runs.
public struct OpenBLAS: Sendable {
  typealias SGEMM =
    @convention(c) (
      Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?,
      Int32, Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
  typealias DGEMM =
    @convention(c) (
      Int32, Int32, Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>?, Int32, UnsafePointer<Double>?,
      Int32, Double, UnsafeMutablePointer<Double>?, Int32
    ) -> Void
  typealias GetCoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?
  typealias GetNumThreads = @convention(c) () -> Int32

  /// The library names tried, in order: Debian's soname, then the development link.
  public static let libraryNames = ["libopenblas.so.0", "libopenblas.so"]

  /// The name of the library that was opened.
  public let library: String
  /// The `OPENBLAS_CORETYPE` set while loading; nil when OpenBLAS was left to choose (the user set
  /// the variable, the CPU has neither AVX2 nor AVX-512, or the process had OpenBLAS loaded already).
  public let requestedCoreType: String?

  let sgemmFunction: SGEMM
  let dgemmFunction: DGEMM
  let coreNameFunction: GetCoreName
  let threadsFunction: GetNumThreads

  /// OpenBLAS, loaded on the first call; later calls return the same table (or the same error).
  public static func shared() throws(OpenBLASError) -> OpenBLAS { try loaded.get() }

  private static let loaded = Result { () throws(OpenBLASError) -> OpenBLAS in
    try load(
      names: libraryNames,
      coreType: coreType(userSetting: environment("OPENBLAS_CORETYPE"), cpuLevel: Int(rk_cpu_level())))
  }

  /// The core type to request: nil when the user chose one, else `SkylakeX` on CPUs with AVX-512
  /// (F, BW, DQ, VL), `Haswell` on CPUs with AVX2 and FMA, nil on older ones. OpenBLAS's own choice
  /// on CPUs it knows uses the same matrix-product kernels, so asking costs nothing there.
  static func coreType(userSetting: String?, cpuLevel: Int) -> String? {
    guard userSetting == nil else { return nil }
    switch cpuLevel {
    case Int(RK_LEVEL_AVX512): return "SkylakeX"
    case Int(RK_LEVEL_AVX2): return "Haswell"
    default: return nil
    }
  }

  /// Opens the first of `names` that loads, with `OPENBLAS_CORETYPE` = `coreType` while it loads
  /// (the environment is restored after), and resolves the table.
  static func load(names: [String], coreType: String?) throws(OpenBLASError) -> OpenBLAS {
    // A process that has OpenBLAS loaded already (linked by the program that embeds RNNKit) keeps
    // the kernels it chose; loading again would only return the same library.
    for name in names {
      if let handle = dlopen(name, RTLD_LAZY | RTLD_NOLOAD) {
        return try resolve(handle, library: name, requestedCoreType: nil)
      }
    }
    let previous = environment("OPENBLAS_CORETYPE")
    if let coreType { setenv("OPENBLAS_CORETYPE", coreType, 1) }
    defer {
      if coreType != nil {
        if let previous { setenv("OPENBLAS_CORETYPE", previous, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
      }
    }
    var firstError: String?
    for name in names {
      // OpenBLAS's kernel tables hold about 14,000 references to its own functions, each resolved
      // while it loads. RTLD_DEEPBIND looks them up in OpenBLAS first instead of in every library
      // the process has loaded (which made `rnnkit score` slower than linking OpenBLAS did), and
      // RTLD_LAZY binds its calls to other libraries on first use, as linking does.
      // AddressSanitizer refuses RTLD_DEEPBIND (its interposed malloc would be bypassed), so a host
      // program built with it (the C API's sanitizer tests) loads OpenBLAS the ordinary way.
      let sanitized = dlsym(nil, "__asan_init") != nil
      if let handle = dlopen(name, RTLD_LAZY | RTLD_LOCAL | (sanitized ? 0 : RTLD_DEEPBIND)) {
        return try resolve(handle, library: name, requestedCoreType: coreType)
      }
      let message = dlerror().map { String(cString: $0) } ?? "unknown error"
      if firstError == nil { firstError = message }
    }
    throw .libraryNotFound(tried: names, reason: firstError ?? "no library name was given")
  }

  private static func resolve(
    _ handle: UnsafeMutableRawPointer, library: String, requestedCoreType: String?
  ) throws(OpenBLASError) -> OpenBLAS {
    func function<F>(_ name: String, as type: F.Type) throws(OpenBLASError) -> F {
      guard let address = dlsym(handle, name) else { throw .missingFunction(name: name, library: library) }
      return unsafeBitCast(address, to: type)
    }
    return OpenBLAS(
      library: library, requestedCoreType: requestedCoreType,
      sgemmFunction: try function("cblas_sgemm", as: SGEMM.self),
      dgemmFunction: try function("cblas_dgemm", as: DGEMM.self),
      coreNameFunction: try function("openblas_get_corename", as: GetCoreName.self),
      threadsFunction: try function("openblas_get_num_threads", as: GetNumThreads.self))
  }

  private static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

  /// The kernel set OpenBLAS chose, such as `Haswell`, `SkylakeX` or `Prescott`.
  public var coreName: String { coreNameFunction().map { String(cString: $0) } ?? "unknown" }

  /// The threads OpenBLAS uses (`OPENBLAS_NUM_THREADS`, else one per core).
  public var threadCount: Int { max(1, Int(threadsFunction())) }

  /// The threads OpenBLAS uses, known without loading it (the runtime's own loops follow this
  /// count, and loading OpenBLAS starts its threads): its count when it is loaded already, else
  /// what it will choose: `OPENBLAS_NUM_THREADS`, `GOTO_NUM_THREADS` or `OMP_NUM_THREADS` (the
  /// first set), at most the CPUs online, which is the default.
  public static func expectedThreadCount() -> Int {
    if let loaded = try? loadedAlready?.get() { return loaded.threadCount }
    let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    for name in ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"] {
      if let text = environment(name), let count = Int(text), count > 0 { return min(count, cpus) }
    }
    return cpus
  }

  /// The table when a runtime or trainer has loaded OpenBLAS already, in this process.
  private static var loadedAlready: Result<OpenBLAS, OpenBLASError>? {
    for name in libraryNames where dlopen(name, RTLD_LAZY | RTLD_NOLOAD) != nil { return loaded }
    return nil
  }

  // CBLAS's constants for row-major storage and (no) transposition.
  private static let rowMajor: Int32 = 101
  private static func operation(_ transpose: Bool) -> Int32 { transpose ? 112 : 111 }

  /// C = alpha·op(A)·op(B) + beta·C in f32, row-major: op(A) is m×k, op(B) is k×n, C is m×n; a
  /// transposed operand is stored the other way round. Does nothing when a dimension is 0.
  public func sgemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0, k > 0 else { return }
    sgemmFunction(
      Self.rowMajor, Self.operation(transposeA), Self.operation(transposeB), Int32(m), Int32(n), Int32(k),
      alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// ``sgemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` in f64.
  public func dgemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Double = 1,
    a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
    c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    guard m > 0, n > 0, k > 0 else { return }
    dgemmFunction(
      Self.rowMajor, Self.operation(transposeA), Self.operation(transposeB), Int32(m), Int32(n), Int32(k),
      alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}
