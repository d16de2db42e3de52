// swift-tools-version: 6.1
// Benchmarks for RNNKit, kept out of the main build. Run through scripts/bench_runtime.sh.
import PackageDescription

let package = Package(
  name: "RNNKitBenchmarks",
  dependencies: [.package(name: "RNNKit", path: "..")],
  targets: [
    // A memory read-bandwidth kernel.
    .target(name: "BenchKernels"),
    .executableTarget(
      name: "rnnkit-bench",
      dependencies: [.product(name: "RNNKit", package: "RNNKit"), "BenchKernels"]),
  ],
  swiftLanguageModes: [.v6]
)
