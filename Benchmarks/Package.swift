// swift-tools-version: 6.1
// Benchmarks for RNNKit, kept out of the main build. Run through scripts/bench_runtime.sh.
import PackageDescription

let package = Package(
  name: "RNNKitBenchmarks",
  dependencies: [.package(name: "RNNKit", path: "..")],
  targets: [
    // The same Debian OpenBLAS the runtime links, to measure this machine's sgemm peak.
    .systemLibrary(name: "BenchBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    // A memory read-bandwidth kernel.
    .target(name: "BenchKernels"),
    .executableTarget(
      name: "rnnkit-bench",
      dependencies: [.product(name: "RNNKit", package: "RNNKit"), "BenchBLAS", "BenchKernels"]),
  ],
  swiftLanguageModes: [.v6]
)
