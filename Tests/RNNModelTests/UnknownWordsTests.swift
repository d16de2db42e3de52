import RNNModel
import Testing

@Suite struct UnknownWordsTests {
  @Test func countsEveryOccurrenceAndKeepsTheFirstDistinctWords() throws {
    let model = try GoldenFixtures.tokenModel()
    let text = "My favourite ramen is miso.\nramen, udon; tempura soba katsu ramen\n\nsushi is japanese"
    let report = try #require(model.unknownWords(in: text, keeping: 4))
    // ramen ×3, miso, "," , udon, ";", tempura, soba, katsu: the tokenizer splits punctuation.
    #expect(report.count == 10)
    #expect(report.first == ["ramen", "miso", ",", "udon"])
    #expect(report.unknownToken == "<unk>")
  }

  @Test func aKnownTextOrAModelWithoutUnknownTokenReportsNothing() throws {
    let model = try GoldenFixtures.tokenModel()
    #expect(model.unknownWords(in: "My favourite dish is sushi.\nsushi is japanese") == nil)
    #expect(try GoldenFixtures.denseModel().unknownWords(in: "anything at all") == nil)
  }
}
