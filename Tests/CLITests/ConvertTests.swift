import Foundation
import RNNKit
import Testing

/// `rnnkit convert`: formats, --verify, and that no failure leaves an output file behind.
@Suite struct ConvertTests {
  let folder: URL
  init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-convert-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
  var listing: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
  }

  @Test(arguments: ["token-f32.rnn", "token-f16.rnn", "token-f64.rnn", "dense-f32.rnn"])
  func rnnToEveryWritableFormatAndBackVerifies(fixture: String) throws {
    let source = CLI.fixture(fixture)
    for (name, to) in [
      ("m.h5", "hdf5"), ("m.weights.h5", "keras-weights"), ("k.h5", "keras-h5"), ("m.keras", "keras"),
    ] {
      let result = try CLI.run(["convert", source, path(name), "--to", to, "--verify"])
      #expect(result.status == 0, "\(fixture) -> \(to): \(result.stderr)")
      #expect(result.stdout.contains("verify: largest difference"), "\(result.stdout)")
    }
    // Back to .rnn from the plain layout (which keeps activations and vocabulary) is exact.
    let back = try CLI.run(["convert", path("m.h5"), path("back.rnn"), "--verify"])
    #expect(back.status == 0, "\(back.stderr)")
    let original = try ElmanModel.load(path: source)
    let again = try ElmanModel.load(path: path("back.rnn"))
    #expect(again.W.floats() == original.W.floats() || original.W.dtype != .f32)
    #expect(again.vocabulary?.tokens == original.vocabulary?.tokens)
    #expect(listing == ["back.rnn", "k.h5", "m.h5", "m.keras", "m.weights.h5"])
  }

  /// A conversion that changes what the model computes fails `--verify` with one line naming the
  /// output, where the outputs differ most, the two values and the tolerance, and writes nothing.
  /// V's two rows cancel: 1000.3 h - 1000.1 h = 0.2 h, but in f16 (steps of 0.5 near 1000) they
  /// become 1000.5 and -1000, so y = 0.5 h: a difference of 0.3 |h| against a tolerance of 0.01.
  @Test func verifyFailureNamesWhereTheOutputsDiffer() throws {
    let model = try ElmanModel(
      W: Parameter([0, 0, 1, 0, 0, 1], shape: [2, 3]), b: Parameter([0, 0], shape: [2]),
      V: Parameter([1000.3, -1000.1], shape: [1, 2]), c: Parameter([0], shape: [1]),
      hiddenActivation: .tanh, outputActivation: .identity, inputKind: .dense)
    try RNNFileFormat().write(model, to: path("cancel.rnn"), options: ExportOptions())
    let result = try CLI.run(["convert", path("cancel.rnn"), path("half.rnn"), "--dtype", "f16", "--verify"])
    #expect(result.status == 1, "\(result.stderr)")
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(result.stderr)")
    let line = String(lines.first ?? "")
    #expect(
      line.hasPrefix("Error: \(path("half.rnn")): --verify failed: the largest output difference 0.2"),
      "\(line)")
    #expect(line.contains("exceeds 0.01 (output 0 at step "), "\(line)")
    #expect(line.contains(": expected "), "\(line)")
    #expect(line.hasSuffix("; nothing was written"), "\(line)")
    #expect(listing == ["cancel.rnn"])

    // From HDF5 the conversion runs in the isolated reader, whose failure comes back with its
    // structure: the same line, in the same words.
    let plain = try CLI.run(["convert", path("cancel.rnn"), path("cancel.h5")])
    #expect(plain.status == 0, "\(plain.stderr)")
    let isolated = try CLI.run(["convert", path("cancel.h5"), path("half.rnn"), "--dtype", "f16", "--verify"])
    #expect(isolated.status == 1, "\(isolated.stderr)")
    let relayed = isolated.stderr.split(separator: "\n")
    #expect(relayed.count == 1, "\(isolated.stderr)")
    #expect(
      relayed.first.map(String.init)?.hasPrefix(
        "Error: \(path("half.rnn")): --verify failed: the largest output") == true,
      "\(isolated.stderr)")
    #expect(isolated.stderr.contains("; nothing was written"), "\(isolated.stderr)")
    #expect(listing == ["cancel.h5", "cancel.rnn"])
  }

  @Test func refusesToOverwriteItsInputEvenWithForce() throws {
    let copy = path("m.rnn")
    try FileManager.default.copyItem(atPath: CLI.fixture("token-f32.rnn"), toPath: copy)
    let before = try Data(contentsOf: URL(fileURLWithPath: copy))
    // The same file through another name (a hard link) is still the input.
    try FileManager.default.linkItem(atPath: copy, toPath: path("alias.rnn"))
    for target in [copy, path("alias.rnn")] {
      let result = try CLI.run(["convert", copy, target, "--force"])
      #expect(result.status != 0)
      #expect(result.stderr.contains("is the input file"), "\(result.stderr)")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
    #expect(listing == ["alias.rnn", "m.rnn"])
  }

  @Test func existingOutputNeedsForce() throws {
    _ = FileManager.default.createFile(atPath: path("out.h5"), contents: Data("keep me".utf8))
    let refused = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("out.h5")])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("already exists; pass --force"), "\(refused.stderr)")
    #expect(try String(contentsOfFile: path("out.h5"), encoding: .utf8) == "keep me")
    let forced = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("out.h5"), "--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(listing == ["out.h5"])
  }

  /// Bad files, and values the output format cannot store, fail with one line and leave no output.
  /// (A `--dtype` that is not a float is refused before any file is touched: ArgumentParsingTests.)
  @Test func badInputsLeaveNoOutput() throws {
    _ = FileManager.default.createFile(atPath: path("empty.h5"), contents: Data())
    let full = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("token-f32.rnn")))
    // A plain HDF5 file cut in half.
    let h5 = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("whole.h5")])
    #expect(h5.status == 0, "\(h5.stderr)")
    let whole = try Data(contentsOf: URL(fileURLWithPath: path("whole.h5")))
    _ = FileManager.default.createFile(atPath: path("half.h5"), contents: whole.prefix(whole.count / 2))
    try FileManager.default.removeItem(atPath: path("whole.h5"))
    _ = FileManager.default.createFile(atPath: path("cut.rnn"), contents: full.prefix(full.count - 7))
    try "a\nb\n".write(toFile: path("short.txt"), atomically: true, encoding: .utf8)
    let cases: [([String], String)] = [
      (["convert", path("empty.h5"), path("o1.rnn")], "empty.h5"),
      (["convert", path("half.h5"), path("o2.rnn")], "half.h5"),
      (["convert", path("cut.rnn"), path("o3.h5")], "cut.rnn"),
      (["convert", CLI.fixture("token-f32.rnn"), path("o5.h5"), "--dtype", "bf16"], "bf16"),
      (["convert", path("half.h5"), path("o7.rnn"), "--vocab", path("short.txt")], "half.h5"),
    ]
    for (arguments, mention) in cases {
      let result = try CLI.run(arguments)
      #expect(result.status != 0, "\(arguments)")
      let lines = result.stderr.split(separator: "\n")
      #expect(lines.count == 1, "one line: \(result.stderr)")
      #expect(result.stderr.contains(mention), "\(result.stderr)")
    }
    // An extension no format claims is a usage error naming --to.
    let unknown = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("o6.xyz")])
    #expect(unknown.status == 64 && unknown.stderr.contains("o6.xyz") && unknown.stderr.contains("--to"))
    // A dtype that is no float is a usage error, refused before any work.
    let usage = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("o4.h5"), "--dtype", "i32"])
    #expect(usage.status == 64, "\(usage.stderr)")
    #expect(usage.stderr.hasPrefix("Error: The value 'i32' is invalid for '--dtype"), "\(usage.stderr)")
    #expect(listing == ["cut.rnn", "empty.h5", "half.h5", "short.txt"])
  }

  @Test func vocabularyLengthMismatchIsNamed() throws {
    let h5 = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("m.h5"), "--to", "keras-h5"])
    #expect(h5.status == 0, "\(h5.stderr)")
    try "a\nb\nc\n".write(toFile: path("v.txt"), atomically: true, encoding: .utf8)
    let result = try CLI.run(["convert", path("m.h5"), path("m.rnn"), "--vocab", path("v.txt")])
    #expect(result.status != 0)
    #expect(result.stderr.contains("\(path("v.txt")): has 3 tokens but the Embedding"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: path("m.rnn")))
  }

  @Test func nonFiniteWeightsConvertWithAWarning() throws {
    var model = try ElmanModel.load(path: CLI.fixture("dense-f32.rnn"))
    var w = model.W.floats()
    w[1] = .nan
    model.W = Parameter(w, shape: model.W.shape)
    try model.write(to: path("nan.rnn"))
    let result = try CLI.run(["convert", path("nan.rnn"), path("nan.h5")])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(
      result.stderr.contains("warning: \(path("nan.rnn")): W has 1 NaN and 0 infinite values"),
      "\(result.stderr)")
    let validate = try CLI.run(["validate", path("nan.h5")])
    #expect(validate.status != 0)
    #expect(validate.stderr.contains("NaN"), "\(validate.stderr)")
  }

  @Test func otherCommandsReadEveryFormat() throws {
    let h5 = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path("m.weights.h5")])
    #expect(h5.status == 0, "\(h5.stderr)")
    let vocab = try ElmanModel.load(path: CLI.fixture("token-f32.rnn")).vocabulary!.tokens
    try (vocab.joined(separator: "\n") + "\n").write(toFile: path("v.txt"), atomically: true, encoding: .utf8)
    let flags = ["--hidden-activation", "tanh", "--output-activation", "softmax"]
    let validate = try CLI.run(["validate", path("m.weights.h5"), "--vocab", path("v.txt")] + flags)
    #expect(validate.status == 0, "\(validate.stdout) \(validate.stderr)")
    let diff = try CLI.run(
      ["diff", CLI.fixture("token-f32.rnn"), path("m.weights.h5"), "--vocab", path("v.txt")] + flags)
    // The weights survive rnn → keras-weights exactly.
    #expect(diff.status == 0, "\(diff.stdout) \(diff.stderr)")
    #expect(diff.stdout.contains("equal within 0"), "\(diff.stdout)")
  }
}

@Suite struct ReproducibleExportTests {
  @Test(arguments: ["hdf5", "keras-weights", "keras-h5", "keras"])
  func exportingTheSameModelTwiceGivesTheSameBytes(format: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let first = folder.appendingPathComponent("a.h5").path
    let second = folder.appendingPathComponent("b.h5").path
    let model = CLI.fixture("dense-f32.rnn")
    #expect(try CLI.run(["convert", model, first, "--to", format]).status == 0)
    // HDF5 records modification times with one-second resolution; make sure a second passes.
    Thread.sleep(forTimeInterval: 1.1)
    #expect(try CLI.run(["convert", model, second, "--to", format]).status == 0)
    #expect(FileManager.default.contentsEqual(atPath: first, andPath: second))
  }

  @Test func theCommittedHDF5FixtureIsTheExportOfTheCommittedModel() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("cuisine.h5").path
    #expect(try CLI.run(["convert", CLI.fixture("cuisine.rnn"), path, "--to", "hdf5"]).status == 0)
    #expect(FileManager.default.contentsEqual(atPath: path, andPath: CLI.fixture("cuisine.h5")))
  }
}
