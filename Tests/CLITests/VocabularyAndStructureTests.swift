import Foundation
import RNNKit
import TestSupport
import Testing

/// Unknown words said out loud, tokenizer overrides on import, `rnnkit vocab`, structural commands
/// that need no runtime information, and JSON that keeps ±Inf apart from NaN.
@Suite struct VocabularyAndStructureTests {
  /// A model whose vocabulary has a capitalised token, exported to Keras (which stores no
  /// tokenizer, so the reader lower-cases by default) with its vocabulary kept by `rnnkit vocab`.
  static func capitalisedKerasModel(in folder: URL) throws -> (rnn: String, keras: String, vocab: String) {
    let words = ["<unk>", "Hello", "world", "."]
    let (h, x) = (3, words.count)
    func weights(_ count: Int, _ seed: Int) -> [Float] {
      (0..<count).map { Float(sin(Double($0 * 5 + seed) * 0.9)) * 0.5 }
    }
    let model = try ElmanModel(
      W: Parameter(weights(h * (h + x), 1), shape: [h, h + x]), b: Parameter(weights(h, 2), shape: [h]),
      V: Parameter(weights(x * h, 3), shape: [x, h]), c: Parameter(weights(x, 4), shape: [x]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary(words),
      tokenizer: TokenizerSettings(
        level: .word, lowercase: false, splitPunctuation: true, unknownToken: "<unk>"))
    let rnn = folder.appendingPathComponent("hello.rnn").path
    try model.write(to: rnn)
    let keras = folder.appendingPathComponent("hello.h5").path
    let convert = try CLI.run(["convert", rnn, keras, "--to", "keras-h5"])
    #expect(convert.status == 0, "\(convert.stderr)")
    let vocab = folder.appendingPathComponent("vocab.txt").path
    let listing = try CLI.run(["vocab", rnn])
    #expect(
      listing.status == 0 && listing.stdout == words.joined(separator: "\n") + "\n", "\(listing.stdout)")
    try listing.stdout.write(toFile: vocab, atomically: true, encoding: .utf8)
    return (rnn, keras, vocab)
  }

  @Test func unknownWordsAreSaidAndStrictRefusesThem() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let files = try Self.capitalisedKerasModel(in: folder)
    let text = folder.appendingPathComponent("text.txt").path
    try "Hello world .\nHello zebra yak .\n".write(toFile: text, atomically: true, encoding: .utf8)
    let runs: [[String]] = [
      ["predict", files.rnn, "Hello zebra"], ["generate", files.rnn, "Hello zebra", "--max-tokens", "1"],
      ["forward", files.rnn, "--text", "Hello zebra"], ["score", files.rnn, text],
    ]
    for arguments in runs {
      let warned = try CLI.run(arguments)
      #expect(warned.status == 0, "\(arguments): \(warned.stderr)")
      #expect(warned.stderr.contains("not in the vocabulary (\"zebra\""), "\(arguments): \(warned.stderr)")
      #expect(!warned.stdout.contains("zebra\" "), "\(arguments)")
      let strict = try CLI.run(arguments + ["--strict"])
      #expect(strict.status == 1 && strict.stderr.contains("\"zebra\""), "\(arguments): \(strict.stderr)")
      #expect(strict.stdout.isEmpty)
    }
    let known = try CLI.run(["predict", files.rnn, "Hello world", "--strict"])
    #expect(known.status == 0 && known.stderr.isEmpty, "\(known.stderr)")
    let score = try CLI.run(["score", files.rnn, text])
    #expect(score.stderr.contains("2 words are not in the vocabulary"), "\(score.stderr)")
  }

  /// Keras stores no tokenizer and reads lower-cased; --no-lowercase makes `Hello` typeable, and the
  /// same override works on every format (applied after any read).
  @Test func importTokenizerSettingsApplyToEveryFormat() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let files = try Self.capitalisedKerasModel(in: folder)
    let lowered = try CLI.run(["predict", files.keras, "Hello world", "--vocab", files.vocab, "--strict"])
    #expect(lowered.status == 1 && lowered.stderr.contains("\"hello\""), "\(lowered.stderr)")
    let kept = try CLI.run(
      ["predict", files.keras, "Hello world", "--vocab", files.vocab, "--strict", "--no-lowercase", "--json"])
    #expect(kept.status == 0, "\(kept.stderr)")
    #expect(kept.stdout.contains("\"tokens\": [1,2]"), "\(kept.stdout)")
    let direct = try CLI.run(["predict", files.rnn, "Hello world", "--json"])
    #expect(direct.stdout == kept.stdout)
    // On an .rnn file too, and the inspect report shows the override.
    let inspect = try CLI.run([
      "inspect", files.rnn, "--lowercase", "--tokenizer", "char", "--unknown-token", ".",
    ])
    #expect(
      inspect.stdout.contains("char level, lower-cased, punctuation split, unknown token \".\""),
      "\(inspect.stdout)")
    let converted = folder.appendingPathComponent("lower.rnn").path
    #expect(
      try CLI.run(["convert", files.keras, converted, "--vocab", files.vocab, "--no-lowercase"]).status == 0)
    let json = try CLI.run(["inspect", converted, "--json"])
    #expect(json.stdout.contains("\"lowercase\": false"), "\(json.stdout)")
  }

  /// `validate` checks structure and `inspect` describes what is there: neither asks for the
  /// vocabulary or activations a file does not store.
  @Test func structuralCommandsDoNotDemandRuntimeInformation() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let files = try Self.capitalisedKerasModel(in: folder)
    let weights = folder.appendingPathComponent("hello.weights.h5").path
    #expect(try CLI.run(["convert", files.rnn, weights]).status == 0)
    for path in [files.keras, weights] {
      let validate = try CLI.run(["validate", path])
      #expect(validate.status == 0 && validate.stdout == "\(path): OK\n", "\(validate.stderr)")
    }
    let inspect = try CLI.run(["inspect", weights])
    #expect(inspect.status == 0, "\(inspect.stderr)")
    #expect(
      inspect.stdout.contains("f (hidden)  unknown (not stored in the file; --hidden-activation supplies it)")
    )
    #expect(inspect.stdout.contains("Vocabulary: unknown (not stored in the file; --vocab FILE supplies it)"))
    #expect(inspect.stdout.contains("W  "), "the tensors: \(inspect.stdout)")
    let json = try CLI.run(["inspect", weights, "--json"])
    #expect(
      json.stdout.contains("\"hidden_activation\": null") && json.stdout.contains("\"vocabulary\": null"))
    // Running the model still needs them, and says so.
    let predict = try CLI.run(["predict", weights, "Hello"])
    #expect(predict.status == 1 && predict.stderr.contains("--hidden-activation"), "\(predict.stderr)")
  }

  /// +Inf, -Inf and NaN print as Python's json module reads them; a summarized tensor in JSON has
  /// the text view's corners.
  @Test func jsonKeepsInfinitiesApartFromNaN() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // V is O×H = 40×30: 1,200 values, summarized.
    let (h, x, o) = (30, 2, 40)
    var values = [Float](repeating: 0.5, count: o * h)
    values[0] = .infinity
    values[1] = -.infinity
    values[2] = .nan
    let model = try ElmanModel(
      W: Parameter([Float](repeating: 0.01, count: h * (h + x)), shape: [h, h + x]),
      b: Parameter([Float](repeating: 0, count: h), shape: [h]), V: Parameter(values, shape: [o, h]),
      c: Parameter([Float](repeating: 0, count: o), shape: [o]), hiddenActivation: .tanh,
      outputActivation: .identity, inputKind: .dense)
    let path = folder.appendingPathComponent("inf.rnn").path
    try model.write(to: path)
    let result = try CLI.run(["inspect", path, "--tensor", "V", "--json", "--stats"])
    #expect(result.status == 0, "\(result.stderr)")
    let script = """
      import json, sys
      d = json.load(sys.stdin)
      t = d["tensor"]
      assert t["truncated"] is True
      assert t["row_indices"] == [0, 1, 2, 37, 38, 39], t["row_indices"]
      assert t["column_indices"] == [0, 1, 2, 27, 28, 29], t["column_indices"]
      row = t["summary"][0]
      assert row[0] == float("inf") and row[1] == float("-inf") and row[2] != row[2], row
      print("ok")
      """
    let python = try ChildProcess.run(
      URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script], stdin: Data(result.stdout.utf8))
    #expect(python.status == 0 && python.stdoutText == "ok\n", "\(python.stderrText)")
    let text = try CLI.run(["inspect", path, "--tensor", "V"])
    #expect(text.stdout.contains("[inf, -inf, nan, …, 0.5, 0.5, 0.5]"), "\(text.stdout)")
  }
}
