import Foundation
import Numerics
import RNNKit
import TestSupport
import Testing

// Interop with h5py and Keras 3 (JAX backend on the CPU): Python builds models and files, we read
// them and match Keras `predict`; Keras loads what we write and matches our forward pass.

/// Runs `python3 script args` with Keras on JAX on the CPU.
private func python(_ script: String, _ arguments: [String]) throws -> (
  status: Int32, stdout: Data, stderr: String
) {
  let result = try PythonClient.run(script: script, arguments)
  return (result.status, result.stdout, String(result.stderrText.suffix(4000)))
}

private func temporaryFolder() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "rnnkit-interop-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// Runs a generator script once per test process and shares its output folder.
private final class Generated: @unchecked Sendable {
  private let lock = NSLock()
  private var folder: Result<URL, any Error>?
  private let script: String
  init(_ script: String) { self.script = script }

  func get() throws -> URL {
    try lock.withLock {
      if folder == nil {
        folder = Result {
          let url = try temporaryFolder()
          let result = try python(script, [url.path])
          guard result.status == 0 else { throw InteropFailure("\(script) failed: \(result.stderr)") }
          return url
        }
      }
      return try folder!.get()
    }
  }
}

private struct InteropFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

private let kerasFiles = Generated("scripts/keras/make_models.py")
private let h5pyFiles = Generated("scripts/hdf5/make_plain.py")

private func json(_ url: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) }

private func doubles(_ value: Any) -> [Double] {
  if let array = value as? [Any] { return array.flatMap(doubles) }
  return [(value as! NSNumber).doubleValue]
}

/// Our forward pass on every sequence, outputs flattened in [sequence][step][output] order.
private func forward(_ model: ElmanModel, inputs: Any) throws -> [Float] {
  let inference = try InferenceModel(model)
  var outputs: [Float] = []
  for sequence in inputs as! [Any] {
    let result: ForwardResult
    if model.inputKind == .tokens {
      result = try inference.forward(tokens: (sequence as! [NSNumber]).map(\.intValue))
    } else {
      result = try inference.forward(vectors: (sequence as! [[NSNumber]]).map { $0.map(\.floatValue) })
    }
    outputs += result.outputs.joined()
  }
  return outputs
}

/// 1e-5 absolute, or for relu models 1e-4 relative (their outputs are unbounded).
private func agree(_ ours: [Float], _ keras: [Double], relu: Bool) -> (Bool, Double) {
  guard ours.count == keras.count else { return (false, .infinity) }
  var worst = 0.0
  var ok = true
  for (a, b) in zip(ours.map(Double.init), keras) {
    worst = max(worst, abs(a - b))
    let close =
      relu
      ? a.isApproximatelyEqual(to: b, absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
      : a.isApproximatelyEqual(to: b, absoluteTolerance: 1e-5)
    if !close { ok = false }
  }
  return (ok, worst)
}

private func writeVocabulary(_ count: Int, in folder: URL) throws -> String {
  let path = folder.appendingPathComponent("vocab-\(count).txt").path
  try (0..<count).map { "tok\($0)" }.joined(separator: "\n").appending("\n").write(
    toFile: path, atomically: true, encoding: .utf8)
  return path
}

@Suite(.requiresPython("h5py", "numpy", "keras", "jax"))
struct KerasInteropTests {
  @Test(arguments: [
    "tokens.h5", "tokens.weights.h5", "tokens.keras", "tokens_sigmoid.h5", "tokens_sigmoid.weights.h5",
    "tokens_sigmoid.keras", "dense_relu.h5", "dense_relu.weights.h5", "dense_relu.keras", "dense_tanh.h5",
    "dense_tanh.weights.h5", "dense_tanh.keras", "tokens_fixed.h5",
  ])
  func ourImportMatchesKerasPredict(file: String) throws {
    let folder = try kerasFiles.get()
    let expected = try json(folder.appendingPathComponent("expected.json")) as! [String: [String: Any]]
    let name = String(file.prefix(while: { $0 != "." })).replacingOccurrences(of: "_fixed", with: "")
    let entry = expected[name]!
    var options = ImportOptions()
    if entry["kind"] as! String == "tokens" { options.vocabularyPath = try writeVocabulary(13, in: folder) }
    if file.hasSuffix(".weights.h5") {
      options.hiddenActivation = HiddenActivation(name: entry["hidden_activation"] as! String)
      options.outputActivation = OutputActivation(name: entry["output_activation"] as! String)
    }
    let path = folder.appendingPathComponent(file).path
    let model = try ModelFormats.read(path: path, options: options)
    #expect(try model.provenance.sourceFormat == ModelFormats.detect(path: path).name)
    let (ok, worst) = agree(
      try forward(model, inputs: entry["inputs"]!), doubles(entry["outputs"]!), relu: name.contains("relu"))
    #expect(ok, "\(file): largest difference \(worst)")
  }

  @Test func formatsAreDetectedFromContent() throws {
    let folder = try kerasFiles.get()
    // Copies under names that say nothing about the format.
    for (file, format) in [
      ("tokens.h5", "keras-h5"), ("tokens.weights.h5", "keras-weights"), ("tokens.keras", "keras"),
    ] {
      let copy = folder.appendingPathComponent("renamed-\(format).bin")
      try? FileManager.default.removeItem(at: copy)
      try FileManager.default.copyItem(at: folder.appendingPathComponent(file), to: copy)
      #expect(try ModelFormats.detect(path: copy.path).name == format)
    }
  }

  @Test(arguments: ["lstm", "gru", "stacked", "bidirectional", "extra_layer"])
  func unsupportedArchitecturesAreNamed(name: String) throws {
    let folder = try kerasFiles.get()
    let expectations: [String: String] = [
      "lstm": "LSTM is not supported", "gru": "GRU is not supported",
      "stacked": "stacked recurrent layers",
      "bidirectional": "bidirectional recurrent layers are not supported",
      "extra_layer": "Dense",
    ]
    for suffix in [".h5", ".weights.h5", ".keras"] {
      let path = folder.appendingPathComponent(name + suffix).path
      let options = ImportOptions(hiddenActivation: .tanh, outputActivation: .identity)
      do {
        // The parser's own typed errors, read in this process.
        _ = try ModelFormats.read(path: path, options: options, isolation: .trusted)
        Issue.record("\(name)\(suffix) was accepted")
      } catch let error as HDF5Error {
        #expect(error.description.hasPrefix(path + ": "))
        #expect(error.description.contains("unsupported architecture"), "\(error)")
        #expect(error.description.contains(expectations[name]!), "\(error)")
      }
    }
  }

  @Test func brokenArchivesNameTheMember() throws {
    let folder = try kerasFiles.get()
    let vocab = try writeVocabulary(13, in: folder)
    let cases = [
      ("missing_weights.keras", "model.weights.h5 is missing"),
      ("missing_config.keras", "config.json is missing"),
      ("corrupt.keras", "model.weights.h5: is corrupt"),
    ]
    for (file, message) in cases {
      let path = folder.appendingPathComponent(file).path
      let error = #expect(throws: HDF5Error.self) {
        try ModelFormats.read(path: path, options: ImportOptions(vocabularyPath: vocab), isolation: .trusted)
      }
      #expect(
        error?.description == "\(path): \(message)"
          || error?.description.hasPrefix("\(path): \(message)") == true, "\(String(describing: error))")
    }
  }

  /// keras → rnn → keras (each Keras format we write) → rnn keeps W, b, V and c bit for bit (f32).
  @Test(arguments: ["tokens.h5", "tokens.keras", "dense_relu.h5", "dense_tanh.weights.h5"])
  func kerasToRNNToKerasIsExact(file: String) throws {
    let generated = try kerasFiles.get()
    let folder = try temporaryFolder()
    let tokens = file.hasPrefix("tokens")
    var options = ImportOptions()
    if tokens { options.vocabularyPath = try writeVocabulary(13, in: folder) }
    if file.hasSuffix(".weights.h5") {
      options.hiddenActivation = .tanh
      options.outputActivation = .softmax
    }
    let original = try ModelFormats.read(path: generated.appendingPathComponent(file).path, options: options)
    let rnn = folder.appendingPathComponent("m.rnn").path
    try RNNFileFormat().write(original, to: rnn, options: ExportOptions())
    let viaRNN = try ModelFormats.read(path: rnn)
    for format in [KerasLegacyFormat() as any ModelFileFormat, KerasWeightsFormat(), KerasArchiveFormat()] {
      let out = folder.appendingPathComponent("out-\(format.name)\(format.extensions.first ?? ".h5")").path
      try format.write(viaRNN, to: out, options: ExportOptions())
      let back = try format.read(path: out, options: ImportOptions(restoring: viaRNN, in: format))
      for (name, a, b) in [
        ("W", original.W, back.W), ("b", original.b, back.b), ("V", original.V, back.V),
        ("c", original.c, back.c),
      ] {
        #expect(
          a.floats().map(\.bitPattern) == b.floats().map(\.bitPattern), "\(file) via \(format.name): \(name)")
      }
      #expect(back.hiddenActivation == original.hiddenActivation)
      #expect(back.outputActivation == original.outputActivation)
    }
  }

  @Test func truncatedKerasFilesFailCleanly() throws {
    let generated = try kerasFiles.get()
    let folder = try temporaryFolder()
    let vocab = try writeVocabulary(13, in: folder)
    let options = ImportOptions(
      vocabularyPath: vocab, hiddenActivation: .tanh, outputActivation: .softmax)
    for file in ["tokens.h5", "tokens.weights.h5", "tokens.keras"] {
      let bytes = try Data(contentsOf: generated.appendingPathComponent(file))
      for cut in [0, 100, bytes.count / 2, bytes.count - 1] {
        let path = folder.appendingPathComponent("cut-\(cut)-\(file)").path
        _ = FileManager.default.createFile(atPath: path, contents: bytes.prefix(cut))
        let name =
          file.hasSuffix(".keras") ? "keras" : file.hasSuffix(".weights.h5") ? "keras-weights" : "keras-h5"
        do {
          _ = try ModelFormats.read(path: path, format: name, options: options, isolation: .trusted)
          Issue.record("\(path) was accepted")
        } catch let error as HDF5Error {
          #expect(error.path == path, "\(error)")
          #expect(!error.description.contains("\n"), "\(error)")
        }
      }
    }
    #expect(HDF5Library.openObjectCount() == 0)
  }

  /// Keras loads our .weights.h5, legacy .h5 and .keras files (written from models of ours, with
  /// every hidden activation, and from a Keras model taken through .rnn) and predicts what we
  /// compute.
  @Test func kerasLoadsWhatWeExport() throws {
    let generated = try kerasFiles.get()
    let folder = try temporaryFolder()
    var jobs: [[String: Any]] = []
    var ours: [[Float]] = []
    var relu: [Bool] = []
    var random = SplitMix64(seed: 11)
    func model(kind: InputKind, f: HiddenActivation, g: OutputActivation) throws -> ElmanModel {
      let (h, x, o) = (6, 10, kind == .tokens ? 10 : 3)
      return try ElmanModel(
        W: Parameter(random.floats(h * (h + x)), shape: [h, h + x]),
        b: Parameter(random.floats(h), shape: [h]),
        V: Parameter(random.floats(o * h), shape: [o, h]), c: Parameter(random.floats(o), shape: [o]),
        hiddenActivation: f, outputActivation: g, inputKind: kind,
        vocabulary: kind == .tokens ? try Vocabulary((0..<x).map { "w\($0)" }) : nil,
        tokenizer: TokenizerSettings(unknownToken: nil))
    }
    let tokenInputs: [[Int]] = [[0, 3, 9, 2, 2, 7], [5, 1, 8, 4, 0, 6]]
    let vectorInputs: [[[Float]]] = (0..<2).map { _ in (0..<5).map { _ in random.floats(10, scale: 1) } }
    // From a Keras file: keras-h5 → rnn → keras-h5 must predict what Keras predicted at the start.
    let vocab = try writeVocabulary(13, in: folder)
    let fromKeras = try ModelFormats.read(
      path: generated.appendingPathComponent("tokens.h5").path, options: ImportOptions(vocabularyPath: vocab))
    let rnn = folder.appendingPathComponent("from-keras.rnn").path
    try RNNFileFormat().write(fromKeras, to: rnn, options: ExportOptions())
    let viaRNN = try ModelFormats.read(path: rnn)
    let cases: [(ElmanModel, String)] = [
      (try model(kind: .tokens, f: .tanh, g: .softmax), "t"),
      (try model(kind: .dense, f: .relu, g: .identity), "d"),
      (try model(kind: .dense, f: .sigmoid, g: .sigmoid), "s"), (viaRNN, "k"),
      (try model(kind: .dense, f: .identity, g: .softmax), "i"),
      (try model(kind: .tokens, f: .softsign, g: .sigmoid), "ss"),
      (try model(kind: .dense, f: .softplus, g: .identity), "sp"),
      (try model(kind: .dense, f: .elu, g: .softmax), "e"),
      (try model(kind: .tokens, f: .silu, g: .identity), "si"),
    ]
    #expect(Set(cases.map(\.0.hiddenActivation)) == Set(HiddenActivation.allCases))
    let kinds = ["h5", "weights", "keras"]
    var roundTripJobs: [Int] = []
    let expected = try json(generated.appendingPathComponent("expected.json")) as! [String: [String: Any]]
    for (model, tag) in cases {
      for kind in kinds {
        let path = folder.appendingPathComponent("\(tag).\(kind == "weights" ? "weights.h5" : kind)").path
        let format: any ModelFileFormat =
          switch kind {
          case "h5": KerasLegacyFormat()
          case "keras": KerasArchiveFormat()
          default: KerasWeightsFormat()
          }
        try format.write(model, to: path, options: ExportOptions())
        if tag == "k" { roundTripJobs.append(jobs.count) }
        // Our own reader gets back exactly what we wrote.
        let back = try format.read(path: path, options: ImportOptions(restoring: model, in: format))
        #expect(back.W.floats() == model.W.floats() && back.V.floats() == model.V.floats(), "\(tag) \(kind)")
        var job: [String: Any] = [
          "kind": kind, "file": path, "hidden": model.hiddenSize, "outputs": model.outputSize,
          "activation": model.hiddenActivation == .identity ? "linear" : model.hiddenActivation.rawValue,
          "output_activation": model.outputActivation == .identity
            ? "linear" : model.outputActivation.rawValue,
        ]
        let inputs: Any
        if tag == "k" {
          inputs = expected["tokens"]!["inputs"]!
        } else if model.inputKind == .tokens {
          inputs = tokenInputs
        } else {
          inputs = vectorInputs.map { $0.map { $0.map(Double.init) } }
        }
        job["inputs"] = inputs
        if model.inputKind == .tokens {
          job["tokens"] = model.inputSize
        } else {
          job["features"] = model.inputSize
        }
        jobs.append(job)
        ours.append(try forward(model, inputs: inputs))
        relu.append(model.hiddenActivation == .relu)
      }
    }
    let jobsPath = folder.appendingPathComponent("jobs.json")
    try JSONSerialization.data(withJSONObject: jobs).write(to: jobsPath)
    let result = try python("scripts/keras/predict_exported.py", [jobsPath.path])
    #expect(result.status == 0, "\(result.stderr)")
    guard result.status == 0 else { return }
    let predictions = try JSONSerialization.jsonObject(with: result.stdout) as! [Any]
    #expect(predictions.count == jobs.count)
    for (index, prediction) in predictions.enumerated() {
      let (ok, worst) = agree(ours[index], doubles(prediction), relu: relu[index])
      let file = jobs[index]["file"] as? String ?? "?"
      let message = "job \(index) (\(file)): largest difference \(worst)"
      #expect(ok, Comment(rawValue: message))
    }
    // The Keras → rnn → Keras files also reproduce Keras's original predictions.
    let original = doubles(expected["tokens"]!["outputs"]!)
    #expect(roundTripJobs.count == kinds.count)
    for index in roundTripJobs {
      let (ok, worst) = agree(doubles(predictions[index]).map(Float.init), original, relu: false)
      let message = "round trip job \(index): largest difference \(worst)"
      #expect(ok, Comment(rawValue: message))
    }
  }
}

@Suite(.requiresPython("h5py", "numpy"))
struct H5pyInteropTests {
  @Test(arguments: ["f16", "f32be", "f64", "gzip", "fixedvocab", "dense"])
  func weImportWhatH5pyWrites(name: String) throws {
    let folder = try h5pyFiles.get()
    let expected = (try json(folder.appendingPathComponent("expected.json")) as! [String: [String: Any]])[
      name]!
    let model = try ModelFormats.read(path: folder.appendingPathComponent(name + ".h5").path)
    let tensors = expected["tensors"] as! [String: [String: Any]]
    for (key, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect(parameter.shape == tensors[key]!["shape"] as! [Int], "\(name) \(key)")
      // HDF5 converts each stored value to the nearest Float, exactly like Float(Double).
      let stored = doubles(tensors[key]!["values"]!).map { Float($0) }
      #expect(parameter.floats() == stored, "\(name) \(key)")
    }
    #expect(model.vocabulary?.tokens == expected["vocab"] as? [String])
    #expect(model.hiddenActivation == .tanh)
    #expect(model.extraMetadata["trained_by"] == .string("h5py"))
    #expect(model.extraMetadata["epochs"] == .int(3))
  }

  @Test(arguments: [DType.f32, .f16, .f64])
  func h5pyReadsOurPlainFiles(dtype: DType) throws {
    let folder = try temporaryFolder()
    var random = SplitMix64(seed: 5)
    let model = try ElmanModel(
      W: Parameter(random.floats(4 * 9), shape: [4, 9]), b: Parameter(random.floats(4), shape: [4]),
      V: Parameter(random.floats(5 * 4), shape: [5, 4]), c: Parameter(random.floats(5), shape: [5]),
      hiddenActivation: .elu, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary(["<unk>", "día", "猫", "b", "."]), provenance: Provenance(name: "for h5py"))
    let path = folder.appendingPathComponent("m.h5").path
    try PlainHDF5Format().write(model, to: path, options: ExportOptions(dtype: dtype))
    let result = try python("scripts/hdf5/read_plain.py", [path])
    #expect(result.status == 0, "\(result.stderr)")
    guard result.status == 0 else { return }
    let read = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
    let tensors = read["tensors"] as! [String: [String: Any]]
    let dtypes = read["dtypes"] as! [String: String]
    for (key, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect(tensors[key]!["shape"] as! [Int] == parameter.shape)
      #expect(dtypes[key] == ["f32": "float32", "f16": "float16", "f64": "float64"][dtype.description])
      let theirs = doubles(tensors[key]!["values"]!).map { Float($0) }
      let ours = dtype == .f16 ? parameter.floats().map { Float(Float16($0)) } : parameter.floats()
      #expect(theirs == ours, "\(key) as \(dtype)")
    }
    #expect(read["vocab"] as? [String] == ["<unk>", "día", "猫", "b", "."])
    let attrs = read["attrs"] as! [String: Any]
    #expect(attrs["hidden_activation"] as? String == "elu")
    #expect(attrs["output_activation"] as? String == "softmax")
    #expect(attrs["input_kind"] as? String == "tokens")
    #expect(attrs["tokenizer_lowercase"] as? Bool == true)
    #expect(attrs["name"] as? String == "for h5py")
  }

  /// The committed HDF5 export holds exactly the weights and vocabulary of Fixtures/cuisine.rnn, as
  /// h5py reads it (so a regenerated .rnn without a regenerated .h5 fails here).
  @Test func theCommittedCuisineExportHoldsTheCommittedModel() throws {
    let fixtures = PythonClient.repositoryRoot.appendingPathComponent("Fixtures")
    let model = try ElmanModel.load(path: fixtures.appendingPathComponent("cuisine.rnn").path)
    let script = """
      import h5py, json, sys
      f = h5py.File(sys.argv[1], "r")
      # Bit patterns of the f32 values, so the comparison is exact whatever a JSON parser rounds.
      out = {k: f[k][()].astype("float32").ravel().view("uint32").tolist() for k in ("W", "b", "V", "c")}
      out["shapes"] = {k: list(f[k].shape) for k in ("W", "b", "V", "c")}
      out["vocab"] = [t.decode() if isinstance(t, bytes) else t for t in f["vocab"][()]]
      print(json.dumps(out))
      """
    let result = try PythonClient.run(["-c", script, fixtures.appendingPathComponent("cuisine.h5").path])
    #expect(result.status == 0, "\(result.stderrText)")
    let json = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      let bits = try #require(json[name] as? [Int])
      let expected = parameter.floats().map { Int($0.bitPattern) }
      let differing = zip(bits, expected).filter { $0 != $1 }.count
      #expect(bits.count == expected.count && differing == 0, "\(name): \(differing) values differ")
      #expect((json["shapes"] as? [String: [Int]])?[name] == parameter.shape)
    }
    #expect(json["vocab"] as? [String] == model.vocabulary?.tokens)
  }
}

private let readCases = Generated("scripts/keras/make_read_cases.py")

/// TimeDistributed(Dense), tf.keras 2.x layouts (written with h5py in tf.keras's layout), one-hot
/// inputs and f64 weights, read from files Keras 3 and h5py wrote.
@Suite(.requiresPython("h5py", "numpy", "keras", "jax"))
struct KerasReadInteropTests {
  static let cases: [(file: String, entry: String, activations: (HiddenActivation, OutputActivation)?)] = [
    ("time_distributed.keras", "time_distributed", nil), ("time_distributed.h5", "time_distributed", nil),
    ("time_distributed.weights.h5", "time_distributed", (.tanh, .softmax)),
    ("tf2_weights.h5", "tf2_tokens", (.tanh, .softmax)),
    ("tf2_weights_vlen.h5", "tf2_tokens", (.tanh, .softmax)),
    ("tf2_dense_weights.h5", "tf2_dense", (.relu, .identity)), ("tf2_model.h5", "tf2_tokens", nil),
    ("one_hot.keras", "one_hot", nil), ("one_hot.h5", "one_hot", nil), ("f64.keras", "f64", nil),
    ("f64.h5", "f64", nil), ("f64.weights.h5", "f64", (.tanh, .softmax)),
  ]

  /// Our forward pass matches Keras `predict` (for f64, SimpleRNN's arithmetic in numpy f64) within
  /// 1e-5 absolute (1e-4 relative for relu); one-hot models are fed token ids, Keras their one-hot
  /// vectors.
  @Test(arguments: cases.map(\.file))
  func importMatchesKeras(file: String) throws {
    let folder = try readCases.get()
    let testCase = Self.cases.first { $0.file == file }!
    let expected = (try json(folder.appendingPathComponent("expected.json")) as! [String: [String: Any]])[
      testCase.entry]!
    var options = ImportOptions()
    if let count = expected["vocabulary"] as? Int {
      options.vocabularyPath = try writeVocabulary(count, in: folder)
    }
    if let (f, g) = testCase.activations {
      options.hiddenActivation = f
      options.outputActivation = g
    }
    let path = folder.appendingPathComponent(file).path
    let model = try ModelFormats.read(path: path, options: options)
    #expect(model.inputKind == (expected["kind"] as! String == "tokens" ? .tokens : .dense), "\(file)")
    let (ok, worst) = agree(
      try forward(model, inputs: expected["inputs"]!), doubles(expected["outputs"]!),
      relu: testCase.activations?.0 == .relu)
    #expect(ok, "\(file): largest difference \(worst)")
    if testCase.entry == "f64" {
      // Every f64 weight arrives unrounded.
      for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
        #expect(parameter.dtype == .f64, "\(file) \(name)")
        let bits = (expected["\(name)_bits"] as! [NSNumber]).map(\.uint64Value)
        #expect(parameter.doubles().map(\.bitPattern) == bits, "\(file) \(name)")
      }
    }
  }

  @Test func tfKerasWeightsWithoutActivationsAskForThem() throws {
    let folder = try readCases.get()
    let path = folder.appendingPathComponent("tf2_weights.h5").path
    let vocabulary = try writeVocabulary(11, in: folder)
    do {
      _ = try ModelFormats.read(
        path: path, options: ImportOptions(vocabularyPath: vocabulary), isolation: .trusted)
      Issue.record("read without activations")
    } catch let error as HDF5Error {
      #expect(error.requestedInput == .hiddenActivation, "\(error)")
      #expect(error.description.hasPrefix(path + ": "), "\(error)")
    }
    #expect(try ModelFormats.detect(path: path).name == "keras-weights")
  }

  @Test(arguments: [
    ("tf2_lstm_weights.h5", "(an LSTM?)"),
    ("tf2_stacked_weights.h5", "stacked recurrent layers (simple_rnn, simple_rnn_1)"),
  ])
  func tfKerasWeightsOfOtherArchitecturesAreRefused(file: String, reason: String) throws {
    let path = try readCases.get().appendingPathComponent(file).path
    let options = ImportOptions(hiddenActivation: .tanh, outputActivation: .identity)
    do {
      _ = try ModelFormats.read(path: path, options: options, isolation: .trusted)
      Issue.record("\(file) was accepted")
    } catch let error as HDF5Error {
      #expect(error.description.hasPrefix(path + ": "), "\(error)")
      #expect(error.description.contains("unsupported architecture"), "\(error)")
      #expect(error.description.contains(reason), "\(error)")
    }
    #expect(HDF5Library.openObjectCount() == 0)
  }

  /// A layer listed twice in `layer_names` is refused before it is read again.
  @Test func tfKerasWeightsListingALayerTwiceAreRefused() throws {
    let path = try readCases.get().appendingPathComponent("tf2_repeated_layer_weights.h5").path
    let options = ImportOptions(hiddenActivation: .tanh, outputActivation: .identity)
    do {
      _ = try ModelFormats.read(path: path, options: options, isolation: .trusted)
      Issue.record("a repeated layer was accepted")
    } catch let error as HDF5Error {
      #expect(error.description.hasPrefix(path + ": "), "\(error)")
      #expect(error.description.contains("lists layer \"simple_rnn_1\" twice"), "\(error)")
    }
    #expect(HDF5Library.openObjectCount() == 0)
  }

  /// Without a vocabulary a one-hot model stays dense; a vocabulary of another size is one line
  /// naming both sizes.
  @Test func oneHotNeedsAVocabularyOfItsSize() throws {
    let folder = try readCases.get()
    let path = folder.appendingPathComponent("one_hot.keras").path
    #expect(try ModelFormats.read(path: path).inputKind == .dense)
    let vocabulary = try writeVocabulary(11, in: folder)
    do {
      _ = try ModelFormats.read(
        path: path, options: ImportOptions(vocabularyPath: vocabulary), isolation: .trusted)
      Issue.record("an 11-token vocabulary was accepted for 7 features")
    } catch let error as HDF5Error {
      #expect(error.path == vocabulary)
      #expect(error.description.contains("11 tokens") && error.description.contains("7 features"), "\(error)")
      #expect(!error.description.contains("\n"))
    }
  }
}

extension SplitMix64 {
  /// Test weights uniform in [-scale, scale).
  fileprivate mutating func floats(_ count: Int, scale: Float = 0.5) -> [Float] {
    (0..<count).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
  }
}
