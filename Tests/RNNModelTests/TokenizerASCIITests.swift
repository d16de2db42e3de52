import Testing

@testable import RNNModel

/// The byte-by-byte word splitter for ASCII text must give exactly the tokens of the Character loop.
@Suite struct TokenizerASCIITests {
  /// Every tokenizer setting that splits words.
  static let settings: [TokenizerSettings] = [false, true].flatMap { lowercase in
    [false, true].map { punctuation in
      TokenizerSettings(level: .word, lowercase: lowercase, splitPunctuation: punctuation)
    }
  }

  @Test func randomASCIITextSplitsAsByCharacters() {
    // Every ASCII byte, with white space (including CR LF, VT, FF and the separators U+001C…U+001F,
    // which are not white space to Swift) and punctuation frequent.
    let alphabet: [String] =
      (0..<128).map { String(UnicodeScalar(UInt8($0))) } + [
        "\r\n", " ", " ", "\n", ".", ",", "-", "'", "_", "Ab",
      ]
    var random = SplitMix64(seed: 11)
    for _ in 0..<400 {
      let text = (0..<random.next(below: 60)).map { _ in alphabet[random.next(below: alphabet.count)] }
        .joined()
      for settings in Self.settings {
        let tokenizer = Tokenizer(settings: settings)
        let fast = tokenizer.splitASCIIWords(text)
        #expect(fast != nil)
        #expect(fast == tokenizer.splitCharacters(text), "\(Array(text.utf8)) with \(settings)")
      }
    }
  }

  @Test func knownASCIISplits() {
    let tokenizer = Tokenizer(
      settings: TokenizerSettings(level: .word, lowercase: true, splitPunctuation: true))
    #expect(
      tokenizer.split("  Don't STOP-me,\r\nnow!\tok_go\u{0B}x\u{0C}y\u{1C}z")
        == ["don't", "stop-me", ",", "now", "!", "ok_go", "x", "y\u{1C}z"])
    #expect(tokenizer.split("") == [] && tokenizer.split(" \r\n\t") == [])
  }

  @Test func nonASCIITextTakesTheCharacterPath() {
    let tokenizer = Tokenizer(
      settings: TokenizerSettings(level: .word, lowercase: true, splitPunctuation: true))
    let text = "Ça va?\u{2028}Très bien\u{00A0}merci — e\u{301}té"
    #expect(tokenizer.splitASCIIWords(text) == nil)
    #expect(tokenizer.split(text) == tokenizer.splitCharacters(text))
    #expect(tokenizer.split(text) == ["ça", "va", "?", "très", "bien", "merci", "—", "e\u{301}té"])
  }
}
