import RNNModel
import Testing

@Suite struct TokenizerTests {
  @Test func wordLevelSplitsPunctuationAndLowercases() {
    let tokenizer = Tokenizer(
      settings: TokenizerSettings(level: .word, lowercase: true, splitPunctuation: true))
    #expect(
      tokenizer.split("My favourite dish is sushi. So, my favourite cuisine is")
        == ["my", "favourite", "dish", "is", "sushi", ".", "so", ",", "my", "favourite", "cuisine", "is"])
    #expect(
      tokenizer.join(["my", "dish", "is", "sushi", ".", "so", ",", "yes"]) == "my dish is sushi. so, yes")
  }

  @Test func textRoundTripsExactlyWhenTheVocabularyAllows() {
    let tokenizer = Tokenizer(
      settings: TokenizerSettings(level: .word, lowercase: false, splitPunctuation: true))
    let text = "Sushi is Japanese. Pizza is Italian, of course!"
    #expect(tokenizer.join(tokenizer.split(text)) == text)
    let chars = Tokenizer(settings: TokenizerSettings(level: .char, lowercase: false))
    #expect(chars.join(chars.split("héllo wörld")) == "héllo wörld")
  }
}
