// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "RNNKit",
  products: [
    .library(name: "RNNKit", targets: ["RNNKit"]),
    // The reader alone (container and model), with no C dependencies, for tools that only load files.
    .library(name: "RNNModel", targets: ["RNNModel"]),
    // The Keras config reader alone, with no C dependencies, for the fuzzer.
    .library(name: "KerasConfig", targets: ["KerasConfig"]),
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
    // C interop: OpenBLAS (Debian libopenblas-dev).
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    // Vector kernels BLAS lacks (activations, log-sum-exp, argmax, f16 matrix-vector), in C because
    // Swift loops do not vectorise float reductions; AVX2/AVX-512 bodies are chosen at run time.
    .target(name: "CKernels"),
    // Forward pass, prediction, generation, scoring.
    .target(name: "RNNRuntime", dependencies: ["RNNModel", "CBLAS", "CKernels"]),
    // C interop: libhdf5 (Debian libhdf5-dev).
    .systemLibrary(
      name: "CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),
    // What a Keras model config says about the layers: pure Swift, fuzzed on its own.
    .target(name: "KerasConfig", dependencies: ["RNNFormat"]),
    // HDF5 plain layout and Keras files.
    .target(
      name: "RNNHDF5",
      dependencies: [
        "RNNModel", "CHDF5", "KerasConfig",
        .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      ]),
    // Backpropagation through time with SGD.
    .target(name: "RNNTraining", dependencies: ["RNNModel", "RNNRuntime", "CBLAS"]),
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
      dependencies: [
        "RNNHDF5", "CHDF5", "KerasConfig", "RNNRuntime",
        .product(name: "Numerics", package: "swift-numerics"),
      ]),
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
