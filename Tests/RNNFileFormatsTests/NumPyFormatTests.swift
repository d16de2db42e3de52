import Foundation
import RNNFileFormats
import RNNFormat
import RNNModel
import Testing

/// The `.npz` format on its own, without numpy (InteropTests run numpy itself).
@Suite struct NumPyFormatTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-npz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  func cuisine() throws -> ElmanModel {
    try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/cuisine.rnn").path, options: ImportOptions())
  }

  /// Writes an archive of `.npy` entries with the project's zip writer.
  func archive(_ entries: [(String, [UInt8])], at path: String) throws {
    var out: [UInt8] = []
    var writer = ZipWriter { out += $0 }
    for (name, bytes) in entries { try writer.addStored(name: name, contents: bytes) }
    try writer.finish()
    try Data(out).write(to: URL(fileURLWithPath: path))
  }

  func floats(_ values: [Float], shape: [Int]) -> [UInt8] {
    NpyCodec.header(descr: "<f4", shape: shape)
      + values.withUnsafeBufferPointer { FloatCodec.encode($0, as: .f32) }
  }

  @Test(arguments: [DType.f32, .f16, .f64])
  func roundTripIsExactAndRecognised(dtype: DType) throws {
    let model = try cuisine()
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.npz").path
    try NumPyFormat().write(model, to: path, options: ExportOptions(dtype: dtype))
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(NumPyFormat().recognizes(path: path, prefix: prefix))
    #expect(!SafetensorsFormat().recognizes(path: path, prefix: prefix))
    let back = try NumPyFormat().read(path: path, options: ImportOptions())
    for (name, a, b) in [
      ("W", model.W, back.W), ("b", model.b, back.b), ("V", model.V, back.V), ("c", model.c, back.c),
    ] {
      #expect(b.dtype == dtype, "\(name)")
      #expect(b.shape == a.shape, "\(name)")
      // The values the dtype holds, bit for bit: what FloatCodec makes of them, decoded again.
      let encoded = a.withFloats { FloatCodec.encode($0, as: dtype) }
      let expected = encoded.withUnsafeBytes { FloatCodec.decode($0, dtype: dtype, count: a.count) }
      #expect(b.floats() == expected, "\(name)")
      // Our own archives are stored and 64-byte aligned, so every parameter is mapped in place.
      #expect(b.view?.entry.offset ?? 0 > 0, "\(name)")
    }
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    #expect(back.inputKind == .tokens)
    #expect(
      back.hiddenActivation == model.hiddenActivation && back.outputActivation == model.outputActivation)
    #expect(back.tokenizer == model.tokenizer)
    #expect(back.provenance.name == model.provenance.name)
  }

  @Test func anF64ParameterSurvivesExactly() throws {
    let doubles: [Double] = [0.1, -1e-300, 1 / 3, 12345.678901234567, 1, 2, 3, 4, 5, 6]
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("d.npz").path
    // An archive as numpy would write it, with W in f64, read, rewritten and read again.
    try archive(
      [
        ("W.npy", NpyCodec.header(descr: "<f8", shape: [2, 5]) + FloatCodec.encode(doubles: doubles)),
        ("b.npy", floats([0, 0], shape: [2])), ("V.npy", floats([1, 1], shape: [1, 2])),
        ("c.npy", floats([0], shape: [1])),
      ], at: path)
    let read = try NumPyFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
    #expect(read.W.doubles() == doubles)
    let again = folder.appendingPathComponent("again.npz").path
    try NumPyFormat().write(read, to: again, options: ExportOptions())
    #expect(try NumPyFormat().read(path: again, options: ImportOptions()).W.doubles() == doubles)
  }

  @Test func extraMetadataSurvives() throws {
    var model = try cuisine()
    model.extraMetadata["x.count"] = .int(-42)
    model.extraMetadata["x.rate"] = .float(0.125)
    model.extraMetadata["x.flag"] = .bool(true)
    model.extraMetadata["x.note"] = .string("café \"quoted\" / slash")
    model.extraMetadata["x.list"] = .stringArray(["a", "b"])
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.npz").path
    try NumPyFormat().write(model, to: path, options: ExportOptions())
    let back = try NumPyFormat().read(path: path, options: ImportOptions())
    for key in ["x.count", "x.rate", "x.flag", "x.note", "x.list"] {
      #expect(back.extraMetadata[key] == model.extraMetadata[key], "\(key)")
    }
  }

  @Test func aDenseInputWithAVocabularyOfItsSizeIsATokenModel() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("onehot.npz").path
    // H 2, X 3: W is 2×5. The vocabulary, as UTF-8 with offsets, has 3 tokens; one ends in NUL.
    let tokens = ["a", "bé", "c\u{0}"]
    let blob = Array(tokens.joined().utf8)
    try archive(
      [
        ("W.npy", floats([Float](repeating: 0.5, count: 10), shape: [2, 5])),
        ("b.npy", floats([0, 0], shape: [2])), ("V.npy", floats([1, 1, 1, 1, 1, 1], shape: [3, 2])),
        ("c.npy", floats([0, 0, 0], shape: [3])),
        ("vocab_offsets.npy", NpyCodec.encode(int64s: [0, 1, 4, 6])),
        ("vocab_bytes.npy", NpyCodec.encode(bytes: blob)),
      ], at: path)
    let model = try NumPyFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .relu, outputActivation: .softmax))
    #expect(model.inputKind == .tokens && model.vocabulary?.tokens == tokens)
    // A token that ends in NUL cannot be a `<U` string, so it is written as UTF-8 again.
    let out = folder.appendingPathComponent("out.npz").path
    try NumPyFormat().write(model, to: out, options: ExportOptions())
    let names = try ZipArchive(mapping: out).entries.map(\.name)
    #expect(
      names == ["W.npy", "b.npy", "V.npy", "c.npy", "vocab_offsets.npy", "vocab_bytes.npy", "metadata.npy"])
    #expect(try NumPyFormat().read(path: out, options: ImportOptions()).vocabulary?.tokens == tokens)
  }

  @Test func whatTheFileLacksIsRequestedByName() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("bare.npz").path
    try archive(
      [
        ("W.npy", floats([Float](repeating: 0.5, count: 10), shape: [2, 5])),
        ("b.npy", floats([0, 0], shape: [2])), ("V.npy", floats([1, 1], shape: [1, 2])),
        ("c.npy", floats([0], shape: [1])),
      ], at: path)
    #expect {
      _ = try NumPyFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      (error as? NumPyError)?.requestedInput == .hiddenActivation && !"\(error)".contains("--")
    }
    let dense = try NumPyFormat().read(
      path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .sigmoid))
    #expect(dense.inputKind == .dense && dense.inputSize == 3)
  }

  /// Archives that must fail in one line naming the file, the entry and a fragment of the reason.
  @Test func badArchivesGiveOneLineErrors() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let b = ("b.npy", floats([0, 0], shape: [2]))
    let V = ("V.npy", floats([1, 1], shape: [1, 2]))
    let c = ("c.npy", floats([0], shape: [1]))
    let W = ("W.npy", floats([Float](repeating: 0.5, count: 10), shape: [2, 5]))
    let objectW = NpyCodec.header(descr: "|O", shape: [1]) + [UInt8](repeating: 0, count: 8)
    let metadata = { (json: String) in ("metadata.npy", NpyCodec.encode(strings: [json], shape: [])) }
    let cases: [(String, [(String, [UInt8])], String)] = [
      (
        "object", [("W.npy", objectW), b, V, c],
        "W.npy: descr: '|O' is an object array, which would need pickle"
      ),
      ("missing", [b, V, c], "W.npy: is required but missing"),
      (
        "strings as W", [("W.npy", NpyCodec.encode(strings: ["x"], shape: [1])), b, V, c], "not a float dtype"
      ),
      (
        "truncated W", [("W.npy", Array(floats([1, 2], shape: [2]).dropLast())), b, V, c],
        "W.npy: data: (2,) of <f4 needs 8 bytes, the array has 7"
      ),
      ("bad JSON", [W, b, V, c, metadata("{")], "metadata.npy: is not a JSON object"),
      ("deep JSON", [W, b, V, c, metadata("{\"a\": [[[1]]]}")], "metadata.npy: is not a JSON object"),
      (
        "wrong type", [W, b, V, c, metadata("{\"tokenizer.lowercase\": \"yes\"}")],
        "tokenizer.lowercase must be a boolean"
      ),
      ("not elman", [W, b, V, c, metadata("{\"rnn.architecture\": \"lstm\\u001b[31m\"}")], "not \"elman\""),
      (
        "tokens without vocabulary", [W, b, V, c, metadata("{\"rnn.input_kind\": \"tokens\"}")],
        "no vocabulary"
      ),
      (
        "half vocabulary", [W, b, V, c, ("vocab_bytes.npy", NpyCodec.encode(bytes: [97]))],
        "needs vocab_offsets"
      ),
      (
        "bad offsets",
        [
          W, b, V, c, ("vocab_offsets.npy", NpyCodec.encode(int64s: [0, 2, 1])),
          ("vocab_bytes.npy", NpyCodec.encode(bytes: [97])),
        ], "vocab_offsets.npy"
      ),
      (
        "2-D vocab", [W, b, V, c, ("vocab.npy", NpyCodec.encode(strings: ["a", "b"], shape: [1, 2]))],
        "must be a 1-D <U string array"
      ),
      (
        "wrong vocabulary size",
        [W, b, V, c, ("vocab.npy", NpyCodec.encode(strings: ["a", "b"], shape: [2]))], "vocabulary"
      ),
    ]
    for (name, entries, fragment) in cases {
      let path = folder.appendingPathComponent("\(name).npz").path
      try archive(entries, at: path)
      do {
        _ = try NumPyFormat().read(
          path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
        Issue.record("\(name): read")
      } catch {
        let message = "\(error)"
        #expect(message.hasPrefix(path + ": "), "\(name): \(message)")
        #expect(message.contains(fragment), "\(name): \(message)")
        #expect(
          !message.unicodeScalars.contains { $0.properties.generalCategory == .control },
          "\(name): \(message)")
      }
    }
  }
}
