// swift-tools-version: 6.1
// libFuzzer targets, kept out of the main package so its build stays fast.
// Build and run with scripts/fuzz.sh.
import PackageDescription

let package = Package(
  name: "RNNKitFuzz",
  dependencies: [.package(name: "RNNKit", path: "..")],
  targets: [
    .executableTarget(
      name: "FuzzReader",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzSafetensors",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzTokenizer",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzZip",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzNpy",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzNpz",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzONNX",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzPickle",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzKerasConfig",
      dependencies: [.product(name: "KerasConfig", package: "RNNKit")]),
    .executableTarget(
      name: "FuzzVocabulary",
      dependencies: [.product(name: "RNNModel", package: "RNNKit")]),
  ],
  swiftLanguageModes: [.v6]
)
