import Foundation
import RNNKit
import Testing

/// Exit statuses (64 usage, 1 bad input, 0 success), which stream says what, the one wording of a
/// missing input, and `-` for standard input and output, end to end on the binary.
@Suite struct ExitCodeAndStreamTests {
  static let model = CLI.fixture("cuisine.rnn")
  static let corpus = CLI.fixture("corpus/cuisine.txt")

  /// Usage errors: swift-argument-parser's refusals and each command's `validate()`, all 64, on
  /// stderr, with nothing on stdout and the flag named.
  @Test(arguments: [
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--hidden", "0"], "--hidden 0"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--epochs", "0"], "--epochs 0"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--hidden", "-3"], "--hidden -3"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--hidden-activation", "gelu"], "'gelu'"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--tokenizer", "bpe"], "'bpe'"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--backend", "gpu"], "'gpu'"),
    (["train", corpus, "-o", "/nonexistent/m.rnn", "--min-count", "0"], "--min-count 0"),
    (["train", corpus, "-o", "/nonexistent/m.xyz"], "m.xyz"),
    (["diff", model, model, "--tolerance", "nan"], "--tolerance"),
    (["diff", model, model, "--tolerance", "-1"], "--tolerance must be a finite number ≥ 0, not -1.0"),
    (["predict", model, "the", "--top", "0"], "--top must be at least 1, not 0"),
    (["predict", model, "the", "--top", "-3"], "--top must be at least 1, not -3"),
    (["generate", model, "the", "--max-tokens", "-2"], "--max-tokens must be 0 or more, not -2"),
    (["generate", model, "the", "--top-k", "-1"], "--top-k must be at least 1"),
    (["predict", model, "the", "--hidden-activation", "gelu"], "'gelu'"),
    (["forward", model, "--ids", "1,x"], "--ids"),
    (["inspect", model, "--all"], "--all"),
    (["convert", model, "/nonexistent/m.xyz"], "--to"),
    (["convert", model, "-"], "--to"),
    (["convert", "-", "/nonexistent/m.rnn"], "--from"),
    (["inpect", model], "inspect"),
    (["inpect", "--help"], "did you mean 'inspect'"),
  ])
  func usageErrorsExit64(arguments: [String], message: String) throws {
    let result = try CLI.run(arguments)
    #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
    #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
  }

  /// A missing input reads the same whatever its kind, exits 1, and says nothing on stdout.
  @Test func aMissingFileHasOneWording() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let absent = folder.appendingPathComponent("absent").path
    let cases: [[String]] = [
      ["inspect", absent], ["validate", absent], ["diff", absent, Self.model], ["predict", absent, "the"],
      ["generate", absent, "the"], ["forward", absent, "--ids", "1"], ["score", absent, Self.corpus],
      ["score", Self.model, absent], ["convert", absent, folder.appendingPathComponent("o.rnn").path],
      ["train", absent, "-o", folder.appendingPathComponent("o.rnn").path],
      ["predict", Self.model, "the", "--vocab", absent], ["forward", Self.model, "--inputs", absent],
      ["train", Self.corpus, "-o", folder.appendingPathComponent("o.rnn").path, "--start-from", absent],
    ]
    for arguments in cases {
      let result = try CLI.run(arguments)
      #expect(result.status == 1, "\(arguments): \(result.stderr)")
      #expect(result.stderr == "Error: \(absent): no such file\n", "\(arguments): \(result.stderr)")
      #expect(result.stdout.isEmpty)
    }
    let directory = try CLI.run(["inspect", folder.path])
    #expect(directory.status == 1 && directory.stderr.contains("is a directory"), "\(directory.stderr)")
  }

  /// An output folder that does not exist is refused before the first epoch.
  @Test func trainChecksTheOutputFolderFirst() throws {
    let result = try CLI.run(["train", Self.corpus, "-o", "/nonexistent-folder/x.rnn", "--epochs", "50"])
    #expect(result.status == 1)
    #expect(
      result.stderr.contains("/nonexistent-folder/x.rnn: the folder /nonexistent-folder does not exist"))
    #expect(!result.stderr.contains("epoch 1/"), "trained before refusing: \(result.stderr)")
  }

  /// `convert IN - --to F` writes the model to stdout; `convert - OUT --from F` reads it back, and
  /// the same with HDF5, whose C reader needs a named file.
  @Test func convertThroughPipes() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    for format in ["safetensors", "hdf5"] {
      let out = try CLI.run(["convert", Self.model, "-", "--to", format])
      #expect(out.status == 0, "\(format): \(out.stderr)")
      let piped = folder.appendingPathComponent("piped.\(format)")
      try out.stdoutData.write(to: piped)
      let back = folder.appendingPathComponent("back-\(format).rnn").path
      let read = try CLI.run(["convert", "-", back, "--from", format], stdinFile: piped.path)
      #expect(read.status == 0, "\(format): \(read.stderr)")
      let diff = try CLI.run(["diff", Self.model, back, "--tolerance", "1e-6"])
      #expect(diff.status == 0, "\(format): \(diff.stdout)")
    }
  }

  /// A model written to standard output is byte for byte the file `convert` writes, in every
  /// writable format (standard output goes through an unnamed temporary file, then a copy).
  @Test(arguments: ModelFormats.writable.map(\.name))
  func standardOutputHoldsTheSameBytesAsAFile(format: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("model.out").path
    let written = try CLI.run(["convert", Self.model, file, "--to", format])
    #expect(written.status == 0, "\(format): \(written.stderr)")
    let piped = try CLI.run(["convert", Self.model, "-", "--to", format])
    #expect(piped.status == 0, "\(format): \(piped.stderr)")
    #expect(piped.stdoutData == (try Data(contentsOf: URL(fileURLWithPath: file))), "\(format)")
  }

  /// `inspect -`, `score MODEL -`, `predict -` and `train - -o M` read standard input.
  @Test func standardInputEverywhereItMakesSense() throws {
    let inspect = try CLI.run(["inspect", "-", "--json"], stdinFile: Self.model)
    #expect(inspect.status == 0, "\(inspect.stderr)")
    #expect(inspect.stdout.contains("\"hidden_size\": 64"))
    let inspectH5 = try CLI.run(["inspect", "-"], stdinFile: CLI.fixture("cuisine.h5"))
    #expect(inspectH5.status == 0 && inspectH5.stdout.contains("hdf5"), "\(inspectH5.stderr)")
    // Read in this process (libhdf5 opens the unnamed copy as an image) and converted.
    let trustedH5 = try CLI.run(["inspect", "-", "--trust-input"], stdinFile: CLI.fixture("cuisine.h5"))
    #expect(trustedH5.status == 0 && trustedH5.stdout.contains("hdf5"), "\(trustedH5.stderr)")
    let convertH5 = try CLI.run(
      ["convert", "-", "-", "--from", "hdf5", "--to", "rnn", "--verify"], stdinFile: CLI.fixture("cuisine.h5")
    )
    #expect(
      convertH5.status == 0 && convertH5.stdoutData.starts(with: [0x89, 0x52, 0x4E, 0x4E]),
      "\(convertH5.stderr)")

    let piped = try CLI.run(["score", Self.model, "-", "--json"], stdinFile: Self.corpus)
    let named = try CLI.run(["score", Self.model, Self.corpus, "--json"])
    #expect(piped.status == 0 && piped.stdout == named.stdout, "\(piped.stderr)")

    let predict = try CLI.run(["predict", "-", "my favourite dish is", "--top", "2"], stdinFile: Self.model)
    #expect(predict.status == 0 && predict.stdout.hasPrefix("token"), "\(predict.stderr)")

    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let trained = folder.appendingPathComponent("t.rnn").path
    let train = try CLI.run(
      ["train", "-", "-o", trained, "--epochs", "1", "--hidden", "4"], stdinFile: Self.corpus)
    #expect(train.status == 0, "\(train.stderr)")
    #expect(FileManager.default.fileExists(atPath: trained))

    let garbage = try CLI.run(["inspect", "-"], stdin: "not a model")
    #expect(garbage.status == 1 && garbage.stderr.contains("(standard input)"), "\(garbage.stderr)")
  }

  /// `--json` on every reporting command; results on stdout, warnings on stderr.
  @Test func jsonOnEveryReportingCommand() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    func object(_ text: String) throws -> [String: Any] {
      try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }
    let validate = try CLI.run(["validate", Self.model, "--json"])
    #expect(validate.status == 0)
    #expect(try object(validate.stdout)["valid"] as? Bool == true)

    let weights = folder.appendingPathComponent("m.weights.h5").path
    let convert = try CLI.run(["convert", Self.model, "-o", weights, "--json", "--verify"])
    #expect(convert.status == 0, "\(convert.stderr)")
    let report = try object(convert.stdout)
    #expect(report["output_format"] as? String == "keras-weights")
    #expect((report["verification"] as? [String: Any])?["passed"] as? Bool == true)
    // A lossy conversion says where its largest difference is, with both values there.
    let half = folder.appendingPathComponent("m16.rnn").path
    let lossy16 = try CLI.run(["convert", Self.model, "-o", half, "--dtype", "f16", "--json", "--verify"])
    #expect(lossy16.status == 0, "\(lossy16.stderr)")
    let check = try #require(try object(lossy16.stdout)["verification"] as? [String: Any])
    let largest = try #require(check["largest_difference"] as? Double)
    let position = try #require(check["position"] as? [String: Any], "\(lossy16.stdout)")
    let expected = try #require(position["expected"] as? Double)
    let found = try #require(position["found"] as? Double)
    let step = try #require(position["step"] as? Int)
    let length = try #require(position["length"] as? Int)
    #expect(step >= 0 && step < length)
    #expect(largest > 0)
    // The reported difference is the one at that position (relative above 1, absolute below),
    // to the float precision of the printed values.
    let there = abs(found - expected) / max(1, abs(expected))
    #expect(abs(there - largest) <= 1e-6 * max(1, largest), "\(there) vs \(largest)")
    // The export drops the vocabulary and the activations: one warning line that says how to read it back.
    let warnings = convert.stderr.split(separator: "\n")
    #expect(warnings.count == 1, "\(convert.stderr)")
    #expect(convert.stderr.contains("--hidden-activation tanh --output-activation softmax"))
    #expect(convert.stderr.contains("rnnkit vocab"))

    let diff = try CLI.run(["diff", Self.model, Self.model, "--json"])
    #expect(try object(diff.stdout)["equal"] as? Bool == true)

    let trained = folder.appendingPathComponent("t.rnn").path
    let train = try CLI.run(["train", Self.corpus, "-o", trained, "--epochs", "1", "--hidden", "4", "--json"])
    #expect(train.status == 0, "\(train.stderr)")
    #expect(try object(train.stdout)["epochs"] as? Int == 1)
    #expect(train.stderr.contains("epoch 1/1"))
    // Training into a format without a vocabulary says so, as convert does.
    let keras = folder.appendingPathComponent("t.weights.h5").path
    let lossy = try CLI.run(["train", Self.corpus, "-o", keras, "--epochs", "1", "--hidden", "4"])
    #expect(
      lossy.status == 0 && lossy.stderr.contains("stores no vocabulary and no activations"), "\(lossy.stderr)"
    )
  }
}
