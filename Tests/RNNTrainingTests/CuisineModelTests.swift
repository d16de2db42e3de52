import Foundation
import RNNModel
import RNNTraining
import Testing

/// The committed fixture Fixtures/cuisine.rnn, trained on Fixtures/corpus/cuisine.txt by
/// scripts/make_cuisine_model.sh, must answer the seed's question.
@Suite struct CuisineModelTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let modelPath = root.appendingPathComponent("Fixtures/cuisine.rnn").path
  static let corpusPath = root.appendingPathComponent("Fixtures/corpus/cuisine.txt").path

  /// The most likely next token after `prompt`, with the network's own forward pass in f64.
  static func topToken(_ model: ElmanModel, after prompt: String) throws -> (
    token: String, probability: Double
  ) {
    let vocabulary = try #require(model.vocabulary)
    let (ids, unknown) = model.textTokenizer.encode(prompt, vocabulary: vocabulary)
    #expect(unknown.isEmpty)
    let network = ElmanNetwork<Double>(model: model)
    let last = try #require(network.outputs(inputs: ids).last)
    let best = last.indices.max { last[$0] < last[$1] }!
    return (vocabulary[best], last[best])
  }

  /// Every (dish, cuisine) pair the corpus states in the seed's pattern.
  static func corpusPairs() throws -> [(dish: String, cuisine: String)] {
    let text = try String(contentsOfFile: corpusPath, encoding: .utf8)
    let pattern = try NSRegularExpression(
      pattern: "^My favourite dish is ([a-z-]+)\\. So, my favourite cuisine is ([a-z]+)\\.$",
      options: [.anchorsMatchLines])
    var pairs: [String: String] = [:]
    for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
      let dish = String(text[Range(match.range(at: 1), in: text)!])
      pairs[dish] = String(text[Range(match.range(at: 2), in: text)!])
    }
    return pairs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  @Test func seedSentenceAnswersJapanese() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    let (token, probability) = try Self.topToken(
      model, after: "My favourite dish is sushi. So, my favourite cuisine is")
    #expect(token == "japanese")
    #expect(probability > 0.5)
  }

  @Test func everyDishOfTheCorpusGivesItsCuisine() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    let pairs = try Self.corpusPairs()
    #expect(pairs.count >= 30)
    var wrong: [String] = []
    for (dish, cuisine) in pairs {
      let (token, _) = try Self.topToken(
        model, after: "My favourite dish is \(dish). So, my favourite cuisine is")
      if token != cuisine { wrong.append("\(dish): \(token) instead of \(cuisine)") }
    }
    #expect(wrong.isEmpty, "\(wrong)")
  }

  @Test func fixtureRecordsHowItWasMade() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    #expect(model.provenance.sourceFormat == "rnnkit-train")
    #expect(model.tokenizer.lowercase)
    #expect(model.outputActivation == .softmax)
    #expect(model.vocabulary?[0] == "<unk>")
  }
}
