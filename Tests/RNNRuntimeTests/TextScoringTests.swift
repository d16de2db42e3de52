import RNNModel
import Testing

@testable import RNNRuntime

/// Scoring a text: its lines, and the scores per line.
@Suite struct TextScoringTests {
  @Test func asciiLinesAreTheNewlineCharacterSplit() {
    let pieces = ["a b", "\n", "\r\n", "\r", "\u{0B}", "\u{0C}", "  ", "\t", "c", "\u{1C}", ".", "\n\n"]
    var random = SplitMix64(seed: 5)
    for _ in 0..<300 {
      let text = (0..<random.next(below: 30)).map { _ in pieces[random.next(below: pieces.count)] }.joined()
      #expect(
        TextLines.split(text).map(String.init)
          == text.split(whereSeparator: \.isNewline).map(String.init),
        "\(Array(text.utf8))")
    }
  }

  @Test func nonASCIILinesSplitAtUnicodeNewlines() {
    let text = "é a\u{2028}b\u{85}c\r\nd\u{2029}"
    #expect(TextLines.split(text) == ["é a", "b", "c", "d"])
  }

  /// Each line scores as its own sequence, in order, whatever the line ends: the per-line scores
  /// equal scoring the token ids of each line separately (within 1e-5 nats: the batch and the
  /// single-sequence paths round differently).
  @Test func multiLineTextScoresLineByLine() throws {
    let model = try InferenceModel(
      TestModels.make(
        h: 8, x: 12, vocabulary: ["a", "b", "c", "d", "e", "f", ".", ",", "g", "h", "i", "j"]))
    let lines = ["a b c .", "d e , f", "g", "h i j a b", "c c c c"]
    let text = lines[0] + "\r\n" + lines[1] + "\n\n" + lines[2] + "\u{0C}" + lines[3] + "\r" + lines[4] + "\n"
    let scored = try model.score(text: text)
    #expect(scored.sequences == 4 && scored.tokens == 4 + 4 + 1 + 5 + 4)
    var expected: [Double] = []
    for line in lines where line != "g" {
      expected += try model.score(tokens: try model.encode(line)).logProbabilities
    }
    #expect(scored.result.logProbabilities.count == expected.count)
    for (a, b) in zip(scored.result.logProbabilities, expected) { #expect(abs(a - b) <= 1e-5) }
  }
}
