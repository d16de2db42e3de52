import Foundation
import RNNKit
import Testing

/// End-to-end tests of `rnnkit forward`, `predict`, `generate` and `score`, checked against the
/// library on the same model.
@Suite struct RuntimeCommandTests {
  static let words = ["<unk>", "the", "cat", "sat", "on", "mat", ".", "a", "dog", "ran"]

  /// A word-level language model and a dense model, written to a fresh folder.
  struct Models {
    let folder: URL
    let tokenPath: String
    let densePath: String
    let token: ElmanModel
    let dense: ElmanModel
  }

  static func makeModels() throws -> Models {
    let folder = try CLI.temporaryFolder()
    func weights(_ count: Int, _ seed: Int) -> [Float] {
      (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.731)) * 0.6 }
    }
    let (h, x) = (6, words.count)
    let token = try ElmanModel(
      W: Parameter(weights(h * (h + x), 1), shape: [h, h + x]), b: Parameter(weights(h, 2), shape: [h]),
      V: Parameter(weights(x * h, 3), shape: [x, h]), c: Parameter(weights(x, 4), shape: [x]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary(words),
      tokenizer: TokenizerSettings(
        level: .word, lowercase: true, splitPunctuation: true, unknownToken: "<unk>"))
    let dense = try ElmanModel(
      W: Parameter(weights(4 * 7, 5), shape: [4, 7]), b: Parameter(weights(4, 6), shape: [4]),
      V: Parameter(weights(2 * 4, 7), shape: [2, 4]), c: Parameter(weights(2, 8), shape: [2]),
      hiddenActivation: .relu, outputActivation: .identity, inputKind: .dense)
    let tokenPath = folder.appendingPathComponent("lm.rnn").path
    let densePath = folder.appendingPathComponent("dense.rnn").path
    try token.write(to: tokenPath)
    try dense.write(to: densePath)
    return Models(folder: folder, tokenPath: tokenPath, densePath: densePath, token: token, dense: dense)
  }

  static func json(_ text: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  static func matrix(_ value: Any?) -> [[Double]] {
    (value as? [[Any]] ?? []).map { row in row.map { ($0 as? NSNumber)?.doubleValue ?? .nan } }
  }

  static func expectClose(_ a: [[Double]], _ b: [[Float]], sourceLocation: SourceLocation = #_sourceLocation)
  {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (p, q) in zip(a, b) {
      #expect(p.count == q.count, sourceLocation: sourceLocation)
      // The CLI prints each float's shortest decimal form, which reads back to the same float.
      for (u, v) in zip(p, q) { #expect(Float(u) == v, "\(u) vs \(v)", sourceLocation: sourceLocation) }
    }
  }

  @Test func forwardPrintsEveryStepAsJSON() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let expected = try InferenceModel(models.token).forward(tokens: [1, 2, 3, 0])

    let byIDs = try CLI.run(["forward", models.tokenPath, "--ids", "1,2,3,0", "--json"])
    #expect(byIDs.status == 0, "\(byIDs.stderr)")
    let object = try Self.json(byIDs.stdout)
    #expect((object["tokens"] as? [Int]) == [1, 2, 3, 0])
    Self.expectClose(Self.matrix(object["hidden"]), expected.hidden)
    Self.expectClose(Self.matrix(object["output"]), expected.outputs)

    // Text goes through the model's tokenizer: lower-cased, unknown words to <unk>.
    let byText = try CLI.run(["forward", models.tokenPath, "--text", "The cat SAT zebra", "--json"])
    #expect(byText.stdout == byIDs.stdout)

    // Plain output: one header and two lines per step.
    let plain = try CLI.run(["forward", models.tokenPath, "--ids", "1,2"])
    let lines = plain.stdout.split(separator: "\n")
    #expect(lines.count == 6)
    #expect(lines.first == "step 0: token 1 \"the\"")
    #expect(lines[1].hasPrefix("  h: ") && lines[2].hasPrefix("  y: "))
  }

  @Test func forwardReadsInputsFromJSON() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let vectors: [[Float]] = [[1, 0.5, -2], [0, 0, 1], [0.25, -1, 3]]
    let file = models.folder.appendingPathComponent("inputs.json")
    try Data("[[1, 0.5, -2], [0, 0, 1], [0.25, -1, 3]]".utf8).write(to: file)
    let result = try CLI.run(["forward", models.densePath, "--inputs", file.path, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try Self.json(result.stdout)
    #expect(object["tokens"] == nil)
    let expected = try InferenceModel(models.dense).forward(vectors: vectors)
    Self.expectClose(Self.matrix(object["hidden"]), expected.hidden)
    Self.expectClose(Self.matrix(object["output"]), expected.outputs)

    let ids = models.folder.appendingPathComponent("ids.json")
    try Data("[1, 2, 9]".utf8).write(to: ids)
    let tokens = try CLI.run(["forward", models.tokenPath, "--inputs", ids.path, "--json"])
    #expect((try Self.json(tokens.stdout)["tokens"] as? [Int]) == [1, 2, 9])
  }

  @Test func predictListsTheBestTokensFirst() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let expected = try InferenceModel(models.token).predictNext(tokens: [1, 2], topK: 3)
    let result = try CLI.run(["predict", models.tokenPath, "the cat", "--top", "3", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try Self.json(result.stdout)
    let predictions = try #require(object["predictions"] as? [[String: Any]])
    #expect(predictions.map { $0["id"] as? Int } == expected.map(\.id))
    #expect(predictions.map { $0["token"] as? String } == expected.map(\.token))
    let probabilities = predictions.compactMap { ($0["probability"] as? NSNumber)?.doubleValue }
    #expect(probabilities == probabilities.sorted(by: >))
    #expect(zip(probabilities, expected).allSatisfy { Float($0) == $1.probability })

    let table = try CLI.run(["predict", models.tokenPath, "the cat", "--top", "2"])
    let lines = table.stdout.split(separator: "\n")
    #expect(lines.count == 3 && lines[0].hasPrefix("token"))
    #expect(lines[1].contains("\"\(expected[0].token!)\"") && lines[1].contains(" \(expected[0].id) "))
  }

  @Test func generateIsSeededAndGreedyMatchesTheLibrary() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let runtime = try InferenceModel(models.token)
    let greedy = try runtime.generate(prompt: [1, 2], options: GenerationOptions(maxTokens: 8))
    let result = try CLI.run([
      "generate", models.tokenPath, "the cat", "--max-tokens", "8", "--temperature", "0", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try Self.json(result.stdout)
    #expect((object["generated"] as? [Int]) == greedy)
    #expect((object["text"] as? String) == (try runtime.decode([1, 2] + greedy)))

    let arguments = [
      "generate", models.tokenPath, "the", "--max-tokens", "12", "--top-k", "4", "--seed", "9",
    ]
    let first = try CLI.run(arguments)
    let second = try CLI.run(arguments)
    #expect(first.status == 0 && first.stdout == second.stdout)
    #expect(first.stdout.hasPrefix("the"))
    let sampled = try runtime.generate(
      prompt: [1], options: GenerationOptions(maxTokens: 12, temperature: 1, topK: 4, seed: 9))
    #expect(first.stdout == (try runtime.decode([1] + sampled)) + "\n")
  }

  @Test func scoreReportsCrossEntropyAndPerplexity() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let text = models.folder.appendingPathComponent("text.txt")
    try Data("The cat sat on the mat. A dog ran.".utf8).write(to: text)
    let runtime = try InferenceModel(models.token)
    // The command scores lines as a batch; one line is a batch of one.
    let expected = try runtime.score(batch: [try runtime.encode("The cat sat on the mat. A dog ran.")])[0]
    let result = try CLI.run(["score", models.tokenPath, text.path, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try Self.json(result.stdout)
    #expect(object["tokens"] as? Int == 11)
    #expect(object["predicted"] as? Int == 10)
    // Foundation's JSON parser may round the last digit: relative tolerance 1e-12.
    let crossEntropy = try #require((object["cross_entropy"] as? NSNumber)?.doubleValue)
    let perplexity = try #require((object["perplexity"] as? NSNumber)?.doubleValue)
    #expect(abs(crossEntropy - expected.crossEntropy) <= 1e-12 * expected.crossEntropy)
    #expect(abs(perplexity - expected.perplexity) <= 1e-12 * expected.perplexity)
    #expect((object["log_probabilities"] as? [Any])?.count == 10)

    let plain = try CLI.run(["score", models.tokenPath, text.path])
    #expect(plain.stdout.contains("cross-entropy: \(expected.crossEntropy) nats/token"))
    #expect(plain.stdout.contains("perplexity: \(expected.perplexity)"))
  }

  /// Every bad input exits 1 with one line on stderr that names the file and the reason. (Refused
  /// arguments, such as `--top 0`, are checked in-process by ArgumentParsingTests.)
  @Test func badInputsAreOneLineErrors() throws {
    let models = try Self.makeModels()
    defer { try? FileManager.default.removeItem(at: models.folder) }
    let text = models.folder.appendingPathComponent("short.txt")
    try Data("cat".utf8).write(to: text)
    let badJSON = models.folder.appendingPathComponent("bad.json")
    try Data("[[1, 2], 3]".utf8).write(to: badJSON)
    let cases: [([String], String)] = [
      (["predict", models.densePath, "the cat"], "dense.rnn: this model takes dense input vectors"),
      (["generate", models.densePath, "the"], "dense.rnn: this model takes dense input vectors"),
      (["score", models.densePath, text.path], "this model takes dense input vectors"),
      (["forward", models.densePath, "--ids", "1,2"], "dense.rnn: this model takes dense input vectors"),
      (["forward", models.tokenPath, "--inputs", badJSON.path], "bad.json: expected a JSON list"),
      (
        ["forward", models.tokenPath, "--ids", "1,10"],
        "lm.rnn: token id 10 at position 1 is outside the vocabulary"
      ),
      (["forward", models.tokenPath, "--ids", "1,x"], "--ids: \"x\" at position 1 is not an integer"),
      (["forward", models.tokenPath, "--text", " "], "lm.rnn: the input is empty"),
      (["predict", models.tokenPath, ""], "lm.rnn: the input is empty"),
      (["score", models.tokenPath, text.path], "short.txt: no line has the 2 tokens that scoring needs"),
      (
        ["score", models.tokenPath, models.folder.appendingPathComponent("none.txt").path],
        "none.txt: no such file"
      ),
    ]
    for (arguments, message) in cases {
      let result = try CLI.run(arguments)
      #expect(result.status != 0, "\(arguments) succeeded")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
      #expect(result.stdout.isEmpty, "\(arguments) printed \(result.stdout)")
    }
    let dense = try CLI.run(["predict", models.densePath, "the cat"])
    #expect(dense.stderr.split(separator: "\n").count == 1)
  }
}
