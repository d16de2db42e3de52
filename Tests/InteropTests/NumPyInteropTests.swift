import Foundation
import RNNKit
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// Runs `scripts/interop/numpy_client.py` with `arguments`. numpy failing to import makes the
/// script exit non-zero, which fails the calling test: nothing here is skipped.
private func numpy(_ arguments: [String]) throws -> (status: Int32, json: Any?, stderr: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments =
    ["python3", root.appendingPathComponent("scripts/interop/numpy_client.py").path] + arguments
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let stdout = out.fileHandleForReading.readDataToEndOfFile()
  let stderr = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (
    process.terminationStatus, try? JSONSerialization.jsonObject(with: stdout),
    String(decoding: stderr, as: UTF8.self)
  )
}

/// The arrays a client run printed, by name.
private func arrays(_ json: Any?) -> [String: [String: Any]] {
  let object = json as? [String: Any] ?? [:]
  return object["arrays"] as? [String: [String: Any]] ?? object as? [String: [String: Any]] ?? [:]
}

/// An array's values, sent as hexadecimal floats so they arrive exactly.
private func values(_ array: [String: Any]?) -> [Double] {
  (array?["values"] as? [String] ?? []).map { Double($0) ?? .nan }
}

private func folder() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-npz-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// numpy itself on both sides of the `.npz` format: `numpy.load(allow_pickle=False)` reads what we
/// write, we read what `numpy.savez` and `numpy.savez_compressed` write, and both refuse the same
/// hostile arrays.
@Suite struct NumPyInteropTests {
  @Test(arguments: [(DType.f32, "<f4"), (.f16, "<f2"), (.f64, "<f8")])
  func numpyLoadsWhatWeWrite(dtype: DType, descr: String) throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try ModelFormats.read(path: root.appendingPathComponent("Fixtures/cuisine.rnn").path)
    let path = dir.appendingPathComponent("cuisine.npz").path
    try NumPyFormat().write(model, to: path, options: ExportOptions(dtype: dtype))
    let result = try numpy(["read", path])
    #expect(result.status == 0, "\(result.stderr)")
    let loaded = arrays(result.json)
    #expect(Set(loaded.keys) == ["W", "b", "V", "c", "vocab", "metadata"])
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect(loaded[name]?["dtype"] as? String == descr, "\(name)")
      #expect(loaded[name]?["shape"] as? [Int] == parameter.shape, "\(name)")
      // Exact: numpy's float64 of each stored value against ours (f32 values widen exactly).
      let encoded = parameter.withFloats { FloatCodec.encode($0, as: dtype) }
      let ours = encoded.withUnsafeBytes { FloatCodec.decode($0, dtype: dtype, count: parameter.count) }
      #expect(values(loaded[name]) == ours.map(Double.init), "\(name)")
    }
    #expect(loaded["vocab"]?["values"] as? [String] == model.vocabulary?.tokens)
    let metadata = (result.json as? [String: Any])?["metadata"] as? [String: Any]
    #expect(metadata?["rnn.hidden_activation"] as? String == model.hiddenActivation.rawValue)
    #expect(metadata?["rnn.output_activation"] as? String == model.outputActivation.rawValue)
    #expect(metadata?["tokenizer.lowercase"] as? Bool == model.tokenizer.lowercase)
  }

  /// numpy-written variants: each mode × vocabulary form, dtype, byte order and memory order.
  static let written: [(String, [String])] = [
    ("savez", ["--tokens"]),
    ("savez_compressed", ["--tokens"]),
    ("savez", ["--tokens", "--big-endian", "--fortran", "--dtype", "float64"]),
    ("savez_compressed", ["--tokens", "--vocab-bytes", "--fortran", "--dtype", "float16"]),
    ("savez", ["--dtype", "float64"]),
    ("savez_compressed", ["--big-endian"]),
  ]

  @Test(arguments: 0..<written.count)
  func weReadWhatNumpyWrites(index: Int) throws {
    let (mode, options) = Self.written[index]
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("numpy.npz").path
    let result = try numpy(["write", path, mode] + options)
    #expect(result.status == 0, "\(result.stderr)")
    let tokens = options.contains("--tokens")
    // Dense archives from numpy hold no metadata, so the activations are supplied.
    let loaded = try ModelFormats.load(
      path: path,
      options: tokens ? ImportOptions() : ImportOptions(hiddenActivation: .relu, outputActivation: .sigmoid))
    #expect(loaded.format.name == "npz")
    let model = loaded.model
    #expect(model.inputKind == (tokens ? .tokens : .dense))
    let written = arrays(result.json)
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect(written[name]?["shape"] as? [Int] == parameter.shape, "\(name)")
      // Exact: the stored values, decoded in their own dtype, against numpy's float64 of them.
      #expect(parameter.doubles() == values(written[name]), "\(mode) \(options) \(name)")
    }
    if tokens {
      #expect(model.vocabulary?.tokens == ["<unk>", "the", "café", "sushi", "🍣", "is", "good"])
      #expect(model.hiddenActivation == .tanh && model.outputActivation == .softmax)
      #expect(model.tokenizer.unknownToken == "<unk>" && model.tokenizer.lowercase)
      #expect(model.provenance.name == "from numpy")
    }
  }

  @Test(arguments: [("<f4", "3,4"), ("<f8", ""), ("<f2", "5"), ("<f4", "2,3,4"), ("<f8", "1,0")])
  func ourNpyBytesAreNumpys(descr: String, shape: String) throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("a.npy").path
    let result = try numpy(["save-npy", path, descr, shape])
    #expect(result.status == 0, "\(result.stderr)")
    let dims = shape.split(separator: ",").map { Int($0)! }
    let count = dims.reduce(1, *)
    let dtype: DType = descr == "<f2" ? .f16 : descr == "<f4" ? .f32 : .f64
    let values = (0..<count).map(Float.init)
    let ours =
      NpyCodec.header(descr: descr, shape: dims)
      + values.withUnsafeBufferPointer { FloatCodec.encode($0, as: dtype) }
    #expect(ours == [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
  }

  @Test func anObjectArrayFromNumpyIsRefusedWithoutUnpickling() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("object.npz").path
    let result = try numpy(["save-object", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect {
      _ = try NumPyFormat().read(
        path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    } throws: { error in
      "\(error)"
        == "\(path): W.npy: descr: '|O' is an object array, which would need pickle; RNNKit never unpickles"
    }
  }

  /// Hostile `W.npy` entries: numpy refuses each one too, and we say why in one line.
  static let hostile: [(String, [UInt8], String)] = [
    (
      "huge shape", NpyCodec.header(descr: "<f4", shape: [1 << 40, 1 << 40]),
      "W.npy: shape: (1099511627776, 1099511627776) has more elements than fit in 64 bits"
    ),
    (
      "bad descr", NpyCodec.header(descr: "<x4", shape: [2, 5]) + [UInt8](repeating: 0, count: 40),
      "W.npy: descr: '<x4' is not supported"
    ),
    (
      "object dtype", NpyCodec.header(descr: "|O", shape: [1]) + [UInt8](repeating: 0, count: 8),
      "W.npy: descr: '|O' is an object array"
    ),
    (
      "truncated data", NpyCodec.header(descr: "<f4", shape: [2, 5]) + [UInt8](repeating: 0, count: 39),
      "W.npy: data: (2, 5) of <f4 needs 40 bytes, the array has 39"
    ),
  ]

  @Test(arguments: 0..<hostile.count)
  func hostileArraysFailHereAndInNumpy(index: Int) throws {
    let (name, bytes, message) = Self.hostile[index]
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("hostile.npz").path
    var archive: [UInt8] = []
    var writer = ZipWriter { archive += $0 }
    try writer.addStored(name: "W.npy", contents: bytes)
    try writer.finish()
    try Data(archive).write(to: URL(fileURLWithPath: path))
    // Status 3 is numpy refusing the file; an import failure would be 1 and fail the test.
    let refused = try numpy(["read", path])
    #expect(refused.status == 3, "\(name): \(refused.stderr)")
    #expect {
      _ = try ModelFormats.read(path: path)
    } throws: { error in
      "\(error)".hasPrefix("\(path): \(message)") && !"\(error)".contains("\n")
    }
  }
}
