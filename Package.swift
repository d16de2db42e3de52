// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "RNNKit",
  products: [
    .library(name: "RNNKit", targets: ["RNNKit"]),
    // The reader alone (container and model), with no C dependencies, for tools that only load files.
    .library(name: "RNNModel", targets: ["RNNModel"]),
    .executable(name: "rnnkit", targets: ["RNNKitCLI"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
  ],
  targets: [
    // Container: bytes <-> named tensors and typed metadata. No RNN knowledge, no C.
    .target(name: "RNNFormat"),
    // The Elman model, its schema on top of the container, vocabulary and tokenizer settings.
    .target(name: "RNNModel", dependencies: ["RNNFormat"]),
    // Vector kernels BLAS lacks (activations, log-sum-exp, argmax, matrix-vector products), in C
    // because Swift loops do not vectorise float reductions; written once, compiled per instruction
    // set (portable, AVX2, AVX-512), the best one chosen at run time.
    .target(name: "CKernels"),
    // Forward pass, prediction, generation, scoring. OpenBLAS (Debian libopenblas0) is loaded at run
    // time with dlopen (OpenBLAS.swift), so nothing links against it.
    .target(name: "RNNRuntime", dependencies: ["RNNModel", "CKernels"]),
    // C interop: libhdf5 (Debian libhdf5-dev).
    .systemLibrary(
      name: "CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),
    // HDF5 plain layout and Keras files.
    .target(
      name: "RNNHDF5",
      dependencies: [
        "RNNModel", "CHDF5",
        .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      ]),
    // Backpropagation through time with SGD.
    .target(name: "RNNTraining", dependencies: ["RNNModel", "RNNRuntime"]),
    // The embeddable library: re-exports the model and runtime, and knows every file format.
    .target(name: "RNNKit", dependencies: ["RNNFormat", "RNNModel", "RNNRuntime", "RNNHDF5", "RNNTraining"]),
    .executableTarget(
      name: "RNNKitCLI",
      dependencies: [
        "RNNKit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    .testTarget(
      name: "RNNFormatTests",
      dependencies: ["RNNFormat", .product(name: "Numerics", package: "swift-numerics")],
      resources: []),
    .testTarget(
      name: "RNNModelTests",
      dependencies: ["RNNModel", .product(name: "Numerics", package: "swift-numerics")]),
    .testTarget(
      name: "RNNRuntimeTests",
      dependencies: ["RNNRuntime", "RNNModel", .product(name: "Numerics", package: "swift-numerics")]),
    .testTarget(
      name: "RNNHDF5Tests",
      dependencies: ["RNNHDF5", "CHDF5", "RNNRuntime", .product(name: "Numerics", package: "swift-numerics")]),
    .testTarget(
      name: "RNNTrainingTests",
      dependencies: ["RNNTraining", "RNNRuntime", .product(name: "Numerics", package: "swift-numerics")]),
    // End-to-end tests of the built `rnnkit` binary.
    .testTarget(name: "CLITests", dependencies: ["RNNKit", "RNNKitCLI"]),
    // Interop with real third-party clients (h5py, Keras, numpy, onnxruntime, safetensors).
    .testTarget(
      name: "InteropTests",
      dependencies: ["RNNKit", .product(name: "Numerics", package: "swift-numerics")]),
  ],
  swiftLanguageModes: [.v6]
)
