import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

@Suite struct LanguageModelTests {
  @Test func scoreMatchesReferenceLogSoftmax() throws {
    let model = try TestModels.make(h: 27, x: 41, seed: 13, scale: 0.4)
    let runtime = try InferenceModel(model)
    let tokens = [5, 40, 0, 17, 17, 2, 33, 8, 19]
    let result = try runtime.score(tokens: tokens)
    let reference = Reference(model).run(tokens: tokens)
    let expected = (0..<(tokens.count - 1)).map { Reference.logSoftmax(reference.logits[$0])[tokens[$0 + 1]] }
    #expect(result.predictedTokens == tokens.count - 1)
    for (a, e) in zip(result.logProbabilities, expected) {
      #expect(a.isApproximatelyEqual(to: e, absoluteTolerance: 1e-5), "log p \(a) vs \(e)")
    }
    let crossEntropy = -expected.reduce(0, +) / Double(expected.count)
    #expect(result.crossEntropy.isApproximatelyEqual(to: crossEntropy, absoluteTolerance: 1e-5))
    #expect(result.perplexity.isApproximatelyEqual(to: Foundation.exp(crossEntropy), relativeTolerance: 1e-5))
  }

  @Test func scoreBatchEqualsSequences() throws {
    let model = try TestModels.make(h: 20, x: 30, g: .identity, seed: 14, scale: 0.4)
    let runtime = try InferenceModel(model)
    var random = TestRandom(77)
    let batch = [12, 2, 30, 5].map { n in (0..<n).map { _ in random.int(30) } }
    let together = try runtime.score(batch: batch)
    for (i, sequence) in batch.enumerated() {
      let alone = try runtime.score(tokens: sequence)
      #expect(together[i].logProbabilities.count == alone.logProbabilities.count)
      for (a, b) in zip(together[i].logProbabilities, alone.logProbabilities) {
        #expect(a.isApproximatelyEqual(to: b, absoluteTolerance: 1e-5))
      }
    }
  }

  // Many rows and a small block size force several logit blocks and the threaded log-sum-exp.
  @Test func scoreLongSequenceMatchesReference() throws {
    let model = try TestModels.make(h: 16, x: 300, seed: 15, scale: 0.3)
    let runtime = try InferenceModel(model)
    var random = TestRandom(3)
    let tokens = (0..<200).map { _ in random.int(300) }
    // 16 rows of 300 logits per block: 13 blocks, the last one shorter.
    let result = try runtime.score(batch: [tokens], blockFloats: 16 * 300)[0]
    let whole = try runtime.score(tokens: tokens)
    for (a, b) in zip(result.logProbabilities, whole.logProbabilities) {
      #expect(a.isApproximatelyEqual(to: b, absoluteTolerance: 1e-6))
    }
    let reference = Reference(model).run(tokens: tokens)
    for t in stride(from: 0, to: tokens.count - 1, by: 17) {
      let expected = Reference.logSoftmax(reference.logits[t])[tokens[t + 1]]
      #expect(result.logProbabilities[t].isApproximatelyEqual(to: expected, absoluteTolerance: 1e-5))
    }
  }

  @Test func predictionIsTheSortedSoftmax() throws {
    let model = try TestModels.make(h: 12, x: 25, seed: 16, scale: 0.8)
    let runtime = try InferenceModel(model)
    let tokens = [3, 9, 1]
    let top = try runtime.predictNext(tokens: tokens, topK: 5)
    let reference = Reference(model).run(tokens: tokens).outputs.last!
    let expectedOrder = reference.indices.sorted { reference[$0] > reference[$1] }.prefix(5)
    #expect(top.map(\.id) == Array(expectedOrder))
    for entry in top {
      #expect(
        Double(entry.probability).isApproximatelyEqual(to: reference[entry.id], absoluteTolerance: 1e-6))
      #expect(entry.token == "t\(entry.id)")
    }
    #expect(try runtime.predictNext(tokens: tokens, topK: 1000).count == 25)
    #expect(throws: RuntimeError.invalidArgument("top-k must be at least 1, got 0")) {
      try runtime.predictNext(tokens: tokens, topK: 0)
    }
  }

  @Test func greedyGenerationFollowsTheArgmax() throws {
    let model = try TestModels.make(h: 14, x: 19, seed: 17, scale: 0.9)
    let runtime = try InferenceModel(model)
    let prompt = [2, 4, 6]
    let generated = try runtime.generate(prompt: prompt, options: GenerationOptions(maxTokens: 10))
    #expect(generated.count == 10)
    // Reference: append the argmax of the double-precision output each step.
    var sequence = prompt
    for _ in 0..<10 {
      let y = Reference(model).run(tokens: sequence).outputs.last!
      sequence.append(y.indices.max { y[$0] < y[$1] }!)
    }
    #expect(generated == Array(sequence.dropFirst(prompt.count)))
  }

  /// Big enough (O·H >= 2^20) for the threaded greedy path, in f32 and with V in f16.
  @Test(arguments: [DType.f32, .f16])
  func threadedGreedyGenerationMatchesLogits(dtype: DType) throws {
    let model = try TestModels.make(h: 256, x: 4099, seed: 23, scale: 0.2)
    let runtime = try InferenceModel(TestModels.stored(model, as: dtype))
    let generated = try runtime.generate(prompt: [5, 6, 7], options: GenerationOptions(maxTokens: 6))
    var session = InferenceSession(model: runtime)
    try session.advance(tokens: [5, 6, 7])
    for token in generated {
      let z = session.logits()
      #expect(token == z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) })
      try session.advance(token: token)
    }
  }

  @Test func samplingIsSeededAndRespectsTopK() throws {
    let model = try TestModels.make(h: 10, x: 50, seed: 18, scale: 0.2)
    let runtime = try InferenceModel(model)
    let options = GenerationOptions(maxTokens: 40, temperature: 1.5, seed: 42)
    let a = try runtime.generate(prompt: [1], options: options)
    let b = try runtime.generate(prompt: [1], options: options)
    #expect(a == b)
    var other = options
    other.seed = 43
    #expect(try runtime.generate(prompt: [1], options: other) != a)
    // With a flat distribution, sampling visits many tokens; greedy would repeat a short cycle.
    #expect(Set(a).count > 5)

    // Top-k 3: every token must be among the 3 most likely at its step.
    var limited = options
    limited.topK = 3
    let chosen = try runtime.generate(prompt: [1], options: limited)
    var session = InferenceSession(model: runtime)
    try session.advance(token: 1)
    for token in chosen {
      let best = InferenceModel.topIndices(session.logits(), k: 3)
      #expect(best.contains(token))
      try session.advance(token: token)
    }

    // Stop tokens end generation; the callback can stop it too.
    let stop = a[3]
    let stopped = try runtime.generate(
      prompt: [1], options: GenerationOptions(maxTokens: 40, temperature: 1.5, seed: 42, stopTokens: [stop]))
    #expect(stopped.last == stop && stopped.count <= 4)
    var seen = 0
    let cut = try runtime.generate(prompt: [1], options: options) { _ in
      seen += 1
      return seen < 5
    }
    #expect(cut.count == 5)
  }

  @Test func topIndicesOrdersTies() {
    #expect(InferenceModel.topIndices([1, 3, 3, 2, 0], k: 3) == [1, 2, 3])
    #expect(InferenceModel.topIndices([5], k: 4) == [0])
  }

  @Test func characterLevelTextRoundTripIsExact() throws {
    let characters = ["<unk>", "H", "e", "l", "o", " ", ",", "w", "r", "d", "!", "é"]
    let model = try TestModels.make(
      h: 5, x: characters.count, seed: 20, vocabulary: characters,
      tokenizer: TokenizerSettings(
        level: .char, lowercase: false, splitPunctuation: false, unknownToken: "<unk>"))
    let runtime = try InferenceModel(model)
    let text = "Hello, world! é"
    let ids = try runtime.encode(text)
    #expect(ids.count == text.count)
    #expect(try runtime.decode(ids) == text)
    // "x" is not in the vocabulary: it becomes <unk>, the rest stays.
    #expect(try runtime.encode("Hex") == [1, 2, 0])
    #expect(throws: RuntimeError.tokenOutOfRange(position: 1, id: 99, vocabularySize: 12)) {
      try runtime.decode([1, 99])
    }
  }

  @Test func textRoundTripAndUnknownWords() throws {
    let words = ["<unk>", "the", "cat", "sat", ".", ",", "on", "mat"]
    let model = try TestModels.make(
      h: 8, x: words.count, seed: 19, vocabulary: words,
      tokenizer: TokenizerSettings(
        level: .word, lowercase: true, splitPunctuation: true, unknownToken: "<unk>"))
    let runtime = try InferenceModel(model)
    let ids = try runtime.encode("The cat sat, on the mat.")
    #expect(ids == [1, 2, 3, 5, 6, 1, 7, 4])
    #expect(try runtime.decode(ids) == "the cat sat, on the mat.")
    #expect(try runtime.encode("the dog") == [1, 0])

    var strict = model
    strict.tokenizer.unknownToken = nil
    #expect(throws: RuntimeError.unknownTokens(["dog"])) { try InferenceModel(strict).encode("the dog") }
  }
}
