import Foundation
import RNNKit
import Testing

/// `rnnkit convert` to `.keras`: real Keras 3 (JAX backend, CPU) loads the archive with
/// `keras.models.load_model` and predicts what `rnnkit forward` prints; the archive converts back
/// to the same model; the write is atomic and never replaces the input.
@Suite struct KerasArchiveTests {
  let folder: URL
  init() throws { folder = try CLI.temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  /// The outputs `rnnkit forward --json` prints for one input.
  func forward(_ model: String, _ arguments: [String]) throws -> [Double] {
    let result = try CLI.run(["forward", model] + arguments + ["--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    return (object["output"] as! [[NSNumber]]).flatMap { $0.map(\.doubleValue) }
  }

  /// Keras's predictions for `inputs` (equal-length sequences), one flat list per sequence.
  func kerasPredictions(_ file: String, inputs: Any, tokens: Int?) throws -> [[Double]] {
    var job: [String: Any] = ["kind": "keras", "file": file, "inputs": inputs]
    if let tokens { job["tokens"] = tokens }
    let jobs = path("jobs.json")
    try JSONSerialization.data(withJSONObject: [job]).write(to: URL(fileURLWithPath: jobs))
    let output = try Python.run("keras/predict_exported.py", [jobs])
    let all = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [[[[NSNumber]]]]
    return all[0].map { sequence in sequence.flatMap { $0.map(\.doubleValue) } }
  }

  /// The largest |a − b|, infinite when the lengths differ.
  func largestDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
  }

  /// The cuisine model (tokens, Embedding) through `rnnkit convert` and Keras's `load_model`:
  /// predictions agree within 1e-5 (absolute; the outputs are softmax probabilities).
  @Test func kerasPredictsWhatRnnkitComputesForTheCuisineModel() throws {
    let source = CLI.fixture("cuisine.rnn")
    let archive = path("cuisine.keras")
    let convert = try CLI.run(["convert", source, archive, "--verify"])
    #expect(convert.status == 0, "\(convert.stderr)")
    // Nothing is lost, so nothing needs restoring: no warning.
    #expect(convert.stderr.isEmpty, "\(convert.stderr)")
    let model = try ElmanModel.load(path: source)
    let n = model.inputSize
    let sequences = [
      [0, 1, 2, 3, 4, 5], [n - 1, 7 % n, 3 % n, n / 2, 0, n - 2], [5 % n, 5 % n, 5 % n, 1, 1, 1],
    ]
    let keras = try kerasPredictions(archive, inputs: sequences, tokens: n)
    #expect(keras.count == sequences.count)
    for (sequence, predicted) in zip(sequences, keras) {
      let ids = sequence.map(String.init).joined(separator: ",")
      let ours = try forward(source, ["--ids", ids])
      let worst = largestDifference(ours, predicted)
      #expect(worst <= 1e-5, "\(ids): largest difference \(worst)")
      // rnnkit reads its own archive back to the same outputs, bit for bit.
      #expect(try forward(archive, ["--ids", ids]) == ours, "\(ids)")
    }
  }

  /// A dense-input model: Input((None, X)) → SimpleRNN → Dense, within 1e-5.
  @Test func kerasPredictsWhatRnnkitComputesForADenseModel() throws {
    let source = CLI.fixture("dense-f32.rnn")
    let archive = path("dense.keras")
    #expect(try CLI.run(["convert", source, archive, "--verify"]).status == 0)
    let model = try ElmanModel.load(path: source)
    var random = SplitMix64(seed: 5)
    let sequences = (0..<3).map { _ in
      (0..<7).map { _ in (0..<model.inputSize).map { _ in random.nextUnit() * 2 - 1 } }
    }
    let keras = try kerasPredictions(archive, inputs: sequences, tokens: nil)
    #expect(keras.count == sequences.count)
    for (k, (sequence, predicted)) in zip(sequences, keras).enumerated() {
      let inputs = path("inputs-\(k).json")
      try JSONSerialization.data(withJSONObject: sequence).write(to: URL(fileURLWithPath: inputs))
      let ours = try forward(source, ["--inputs", inputs])
      let worst = largestDifference(ours, predicted)
      #expect(worst <= 1e-5, "sequence \(k): largest difference \(worst)")
    }
  }

  /// .rnn → .keras → .rnn gives the model back: `rnnkit diff` finds no difference at all, the
  /// vocabulary and tokenizer settings included, and every weight in its dtype with the same
  /// value (an f64 model stays f64, bit for bit).
  @Test(arguments: ["cuisine.rnn", "token-f32.rnn", "dense-f32.rnn", "token-f64.rnn"])
  func roundTripIsExact(fixture: String) throws {
    let archive = path("m.keras")
    let back = path("back.rnn")
    #expect(try CLI.run(["convert", CLI.fixture(fixture), archive]).status == 0)
    let read = try CLI.run(["convert", archive, back, "--verify"])
    #expect(read.status == 0, "\(read.stderr)")
    let diff = try CLI.run(["diff", CLI.fixture(fixture), back])
    #expect(diff.status == 0 && diff.stdout.contains("equal within 0"), "\(diff.stdout)")
    let original = try ElmanModel.load(path: CLI.fixture(fixture))
    let restored = try ElmanModel.load(path: back)
    #expect(restored.tokenizer == original.tokenizer)
    #expect(restored.vocabulary?.tokens == original.vocabulary?.tokens)
    for (name, a, b) in [
      ("W", original.W, restored.W), ("b", original.b, restored.b), ("V", original.V, restored.V),
      ("c", original.c, restored.c),
    ] {
      #expect(b.dtype == a.dtype, "\(name): \(b.dtype) for \(a.dtype)")
      #expect(b.doubles() == a.doubles(), "\(name)")
    }
  }

  /// An existing output is never replaced without --force, the input never even with it, and a
  /// refused write leaves the folder as it was.
  @Test func writingIsAtomicAndSparesTheInput() throws {
    let archive = path("m.keras")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), archive]).status == 0)
    let before = try Data(contentsOf: URL(fileURLWithPath: archive))
    let again = try CLI.run(["convert", CLI.fixture("cuisine.rnn"), archive])
    #expect(again.status != 0 && again.stderr.contains("--force"), "\(again.stderr)")
    let onto = try CLI.run(["convert", archive, archive, "--force"])
    #expect(onto.status != 0, "\(onto.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: archive)) == before)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["m.keras"])
    let forced = try CLI.run(["convert", CLI.fixture("cuisine.rnn"), archive, "--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: archive)) != before)
  }

  /// The archive has the three members Keras writes, stored, in Keras's order; RNNKit's strings
  /// live in metadata.json beside the Keras version.
  @Test func theArchiveHasKerasMembersOnly() throws {
    let archive = path("m.keras")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), archive]).status == 0)
    let zip = try ZipArchive(mapping: archive)
    #expect(zip.entries.map(\.name) == ["metadata.json", "config.json", "model.weights.h5"])
    let metadata = try zip.content(of: zip.entry(named: "metadata.json")!)
    let object = try JSONSerialization.jsonObject(with: Data(metadata.bytes)) as! [String: Any]
    #expect(object["keras_version"] as? String == "3.0.0")
    let strings = object["rnnkit"] as! [String: String]
    #expect(strings["rnn.input_kind"] == "tokens" && strings["rnnkit.vocabulary"] != nil)
  }

  /// Archives whose metadata.json contradicts config.json are refused with one line naming the
  /// member, whichever the contradiction.
  @Test(arguments: [
    (
      "rnn.input_kind", "dense",
      "describes a model with dense inputs, but config.json starts with an Embedding"
    ),
    ("rnn.hidden_activation", "relu", "gives hidden activation relu, but config.json gives tanh"),
    ("rnn.output_activation", "identity", "gives output activation identity, but config.json gives softmax"),
    ("rnnkit.vocabulary", "[1, 2]", "rnnkit.vocabulary is not a JSON array of strings"),
    ("rnnkit.vocabulary", "[\"a\"]", "has 1 tokens but the Embedding"),
  ])
  func contradictoryMetadataIsRefused(key: String, value: String, expected: String) throws {
    let archive = path("m.keras")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), archive]).status == 0)
    let edited = path("edited.keras")
    try rewriteMetadata(archive, to: edited) { $0[key] = value }
    let result = try CLI.run(["inspect", edited])
    let message = result.stderr.trimmingCharacters(in: .newlines)
    #expect(result.status == 1 && !message.contains("\n"), "\(message)")
    #expect(message.contains("\(edited): metadata.json") && message.contains(expected), "\(message)")
  }

  /// Copies `archive` to `output` with the strings RNNKit keeps in metadata.json changed by `edit`.
  func rewriteMetadata(_ archive: String, to output: String, _ edit: (inout [String: String]) -> Void) throws
  {
    let zip = try ZipArchive(mapping: archive)
    var bytes: [UInt8] = []
    var writer = ZipWriter { bytes += $0 }
    for entry in zip.entries {
      let content = try zip.content(of: entry)
      if entry.name == "metadata.json" {
        var object = try JSONSerialization.jsonObject(with: Data(content.bytes)) as! [String: Any]
        var strings = object["rnnkit"] as! [String: String]
        edit(&strings)
        object["rnnkit"] = strings
        try writer.addStored(
          name: entry.name, contents: [UInt8](try JSONSerialization.data(withJSONObject: object)))
      } else {
        try writer.addStored(name: entry.name, bytes: content.bytes)
      }
    }
    try writer.finish()
    try Data(bytes).write(to: URL(fileURLWithPath: output))
  }
}
