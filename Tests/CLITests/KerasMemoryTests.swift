import Foundation
import Testing

/// A small Keras file must not cost a large amount of memory before it fails. Each test runs
/// `rnnkit` under scripts/hostile/max_rss.py, which reports the largest resident set size of the
/// command and its children (getrusage RUSAGE_CHILDREN), and states its bound.
@Suite struct KerasMemoryTests {
  let folder: URL
  init() throws { folder = try CLI.temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  struct Run {
    var status: Int
    var maxRSS: Int
    var stderr: String
  }

  func measure(_ arguments: [String]) throws -> Run {
    let output = try Python.run("hostile/max_rss.py", [CLI.binary.path] + arguments)
    let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
    return Run(
      status: json["status"] as! Int, maxRSS: json["max_rss_bytes"] as! Int, stderr: json["stderr"] as! String
    )
  }

  /// A Keras 3 config for Embedding(inputDim, 4) → SimpleRNN(4) → Dense(8), the shape of
  /// Fixtures/token-f32.rnn when `inputDim` is 8.
  func config(inputDim: Int) throws -> String {
    let file = path("config-\(inputDim).json")
    let text = """
      {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, null], "dtype": "int32", "name": "in"}},
        {"class_name": "Embedding", "config": {"name": "embedding", "input_dim": \(inputDim), "output_dim": 4}},
        {"class_name": "SimpleRNN", "config": {"name": "simple_rnn", "units": 4, "activation": "tanh"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 8, "activation": "softmax"}}]}}
      """
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    return file
  }

  func weights() throws -> String {
    let file = path("model.weights.h5")
    if !FileManager.default.fileExists(atPath: file) {
      #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), file]).status == 0)
    }
    return file
  }

  func expectOneLine(_ run: Run, _ expected: String) {
    let message = run.stderr.trimmingCharacters(in: .newlines)
    #expect(run.status == 1, "\(message)")
    #expect(!message.contains("\n") && message.contains(expected), "\(message)")
  }

  /// 1 MiB of archive whose weights member inflates to 1 GiB, for layers that need a few KB: the
  /// member is refused from its directory entry, before any of it is inflated.
  @Test func aWeightsMemberLargerThanTheLayersNeedIsNeverInflated() throws {
    let archive = path("bomb.keras")
    try Python.run(
      "hostile/hdf5_tamper.py", ["archive", archive, try config(inputDim: 8), try weights(), "\(1 << 30)"])
    #expect((try FileManager.default.attributesOfItem(atPath: archive)[.size] as! Int) < 2 << 20)
    let run = try measure(["convert", archive, path("out.rnn"), "--vocab", try vocabulary(8)])
    expectOneLine(run, "\(archive): model.weights.h5: inflates to ")
    expectOneLine(run, " bytes, over the limit of ")
    // Bound: 128 MiB, a fraction of the member (rnnkit alone takes about 40 MB).
    #expect(run.maxRSS < 128 << 20, "max RSS \(run.maxRSS) bytes")
    #expect(!FileManager.default.fileExists(atPath: path("out.rnn")))
  }

  /// A 256 MiB member that the config's layers could fill is inflated once, into the buffer
  /// libhdf5 reads in place.
  @Test func aLargeMemberIsHeldInMemoryOnce() throws {
    let archive = path("large.keras")
    let member = 256 << 20
    // 2,000,000 × 4 embedding values may need 320 MB with optimizer slots, so the member fits.
    try Python.run(
      "hostile/hdf5_tamper.py",
      ["archive", archive, try config(inputDim: 2_000_000), try weights(), "\(member)"])
    let run = try measure(["convert", archive, path("out.rnn"), "--vocab", try vocabulary(8)])
    // The weights hold an [8, 4] embedding, not the [2000000, 4] the config declares.
    expectOneLine(
      run, "/layers/embedding/vars/0: gives Embedding input_dim 8, but config.json declares 2000000")
    // Bound: one copy of the member plus 128 MiB (before, the member was copied about four times).
    #expect(run.maxRSS < member + (128 << 20), "max RSS \(run.maxRSS) bytes")
  }

  /// A 32 KB weights file whose [200000, 1] embedding and [1, 500] kernel fold into a 400 MB W fails
  /// for its missing vocabulary before folding anything.
  @Test func aMissingVocabularyFailsBeforeTheEmbeddingIsFolded() throws {
    let file = path("wide.weights.h5")
    try Python.run("hostile/hdf5_tamper.py", ["wide-embedding", file, "200000", "1", "500", "3"])
    #expect((try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int) < 64 << 10)
    let arguments = [
      "convert", file, path("out.rnn"), "--hidden-activation", "tanh", "--output-activation", "softmax",
    ]
    let run = try measure(arguments)
    expectOneLine(run, "\(file): the model has an Embedding layer and Keras files store no vocabulary")
    // Bound: 128 MiB, under a third of W.
    #expect(run.maxRSS < 128 << 20, "max RSS \(run.maxRSS) bytes")
    let wrong = try measure(arguments + ["--vocab", try vocabulary(8)])
    expectOneLine(wrong, "has 8 tokens but the Embedding in \(file) has input_dim 200000")
    #expect(wrong.maxRSS < 128 << 20, "max RSS \(wrong.maxRSS) bytes")
  }

  /// Keras (Python's zipfile) reads the last of two members of one name; RNNKit's zip reader
  /// refuses the archive.
  @Test func duplicateMemberNamesAreRefused() throws {
    let archive = path("twice.keras")
    try Python.run("hostile/hdf5_tamper.py", ["archive", archive, try config(inputDim: 8), try weights()])
    #expect(try CLI.run(["convert", archive, path("ok.rnn"), "--vocab", try vocabulary(8)]).status == 0)
    try Python.run("hostile/hdf5_tamper.py", ["append", archive, "config.json", try config(inputDim: 9)])
    let result = try CLI.run(["convert", archive, path("out.rnn"), "--vocab", try vocabulary(8)])
    #expect(result.status == 1)
    #expect(result.stderr == "Error: \(archive): entry \"config.json\": appears twice\n", "\(result.stderr)")
  }

  func vocabulary(_ count: Int) throws -> String {
    let file = path("vocab-\(count).txt")
    try (0..<count).map { "w\($0)\n" }.joined().write(toFile: file, atomically: true, encoding: .utf8)
    return file
  }
}
