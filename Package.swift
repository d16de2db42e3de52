// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "RNNKit",
  products: [
    .library(name: "RNNKit", targets: ["RNNKit"]),
    // The readers and writers written in Swift (container, model, .rnn, safetensors), with no C
    // dependencies, for tools that only load files.
    .library(name: "RNNModel", targets: ["RNNModel", "RNNFileFormats"]),
    // The Keras config reader alone, with no C dependencies, for the fuzzer.
    .library(name: "KerasConfig", targets: ["KerasConfig"]),
    .executable(name: "rnnkit", targets: ["RNNKitCLI"]),
    // librnnkit.so: the C interface declared in include/rnnkit.h.
    .library(name: "rnnkit-c", type: .dynamic, targets: ["RNNKitC"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    // `swift package generate-documentation` for the DocC catalogue (Sources/RNNKit/RNNKit.docc).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // Container: bytes <-> named tensors and typed metadata. No RNN knowledge, no C.
    .target(name: "RNNFormat"),
    // The Elman model, its schema on top of the container, vocabulary and tokenizer settings.
    .target(name: "RNNModel", dependencies: ["RNNFormat"]),
    // The formats whose parsers are RNNKit's own Swift: `.rnn` and safetensors. No C, so they read
    // in-process and fuzz without OpenBLAS or libhdf5.
    .target(name: "RNNFileFormats", dependencies: ["RNNFormat", "RNNModel"]),
    // Vector kernels BLAS lacks (activations, log-sum-exp, argmax, matrix-vector products), in C
    // because Swift loops do not vectorise float reductions; written once, compiled per instruction
    // set (portable, AVX2, AVX-512), the best one chosen at run time.
    .target(name: "CKernels"),
    // Forward pass, prediction, generation, scoring. OpenBLAS (Debian libopenblas0) is loaded at run
    // time with dlopen (OpenBLAS.swift), so nothing links against it.
    .target(name: "RNNRuntime", dependencies: ["RNNModel", "CKernels"]),
    // C interop: libhdf5's headers (Debian libhdf5-dev). libhdf5 itself is loaded at run time with
    // dlopen when an HDF5 or Keras file is first read or written (RNNHDF5/HDF5Calls.swift), so
    // nothing links against it. No pkg-config here: SwiftPM would link what it lists.
    .systemLibrary(name: "CHDF5"),
    // What a Keras model config says about the layers: pure Swift, fuzzed on its own.
    .target(name: "KerasConfig", dependencies: ["RNNFormat"]),
    // HDF5 plain layout and Keras files.
    .target(
      name: "RNNHDF5",
      dependencies: ["RNNModel", "RNNFileFormats", "CHDF5", "KerasConfig"]),
    // Backpropagation through time with SGD.
    .target(name: "RNNTraining", dependencies: ["RNNModel", "RNNRuntime", "CKernels"]),
    // The embeddable library: re-exports the model and runtime, and knows every file format.
    .target(
      name: "RNNKit",
      dependencies: ["RNNFormat", "RNNModel", "RNNFileFormats", "RNNRuntime", "RNNHDF5", "RNNTraining"]),
    // The hand-written C header, as a module the C layer implements.
    .systemLibrary(name: "CRNNKitABI"),
    // The C interface: @_cdecl functions over RNNKit, no logic of their own.
    .target(name: "RNNKitC", dependencies: ["RNNKit", "CRNNKitABI"]),
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
      name: "RNNFileFormatsTests",
      dependencies: ["RNNFileFormats", .product(name: "Numerics", package: "swift-numerics")]),
    .testTarget(
      name: "RNNRuntimeTests",
      dependencies: ["RNNRuntime", "RNNModel", .product(name: "Numerics", package: "swift-numerics")]),
    .testTarget(
      name: "RNNHDF5Tests",
      dependencies: [
        "RNNHDF5", "CHDF5", "KerasConfig", "RNNRuntime", "TestSupport",
        .product(name: "Numerics", package: "swift-numerics"),
      ]),
    .testTarget(
      name: "RNNTrainingTests",
      dependencies: ["RNNTraining", "RNNRuntime", .product(name: "Numerics", package: "swift-numerics")]),
    // Running child processes (the `rnnkit` binary, Python clients) for the tests; Foundation only.
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    // End-to-end tests of the built `rnnkit` binary, and in-process tests of its argument parsing.
    .testTarget(
      name: "CLITests",
      dependencies: [
        "RNNKit", "RNNKitCLI", "TestSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // The RNNKit library as an embedder calls it: safe reading, conversion, validation, the C API, the report builder.
    .testTarget(name: "RNNKitTests", dependencies: ["RNNKit", "RNNKitCLI"]),
    // Interop with real third-party clients (h5py, Keras, numpy, onnxruntime, safetensors); every
    // test that needs Python lives here.
    .testTarget(
      name: "InteropTests",
      dependencies: ["RNNKit", "TestSupport", .product(name: "Numerics", package: "swift-numerics")]),
  ],
  swiftLanguageModes: [.v6]
)
