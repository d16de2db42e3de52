/// How text becomes tokens: stored in the model's metadata (`tokenizer.*` keys).
public struct TokenizerSettings: Equatable, Sendable {
  /// What a token is.
  public enum Level: String, CaseIterable, Sendable, Codable {
    /// Words separated by white space.
    case word
    /// Single characters (extended grapheme clusters).
    case char
  }

  /// Words or characters.
  public var level: Level
  /// Lower-case text before looking tokens up.
  public var lowercase: Bool
  /// At word level, split punctuation off words as tokens of its own.
  public var splitPunctuation: Bool
  /// The token that unknown words map to; nil when unknown words are an error.
  public var unknownToken: String?
  /// The token that ends each line in training, so generation can stop; nil when the model has none.
  /// Text never splits into it, and joining leaves it out.
  public var endOfSequence: String?

  /// Tokenizer settings; the defaults split words and punctuation and keep case.
  public init(
    level: Level = .word, lowercase: Bool = true, splitPunctuation: Bool = true,
    unknownToken: String? = "<unk>", endOfSequence: String? = nil
  ) {
    self.level = level
    self.lowercase = lowercase
    self.splitPunctuation = splitPunctuation
    self.unknownToken = unknownToken
    self.endOfSequence = endOfSequence
  }
}

/// Splits text into token strings and joins them back, following ``TokenizerSettings``.
public struct Tokenizer: Sendable {
  /// How this tokenizer splits text.
  public var settings: TokenizerSettings
  /// Tokenizer settings; the defaults split words and punctuation and keep case.

  /// A tokenizer with `settings`.
  public init(settings: TokenizerSettings) {
    self.settings = settings
  }

  /// The token strings of `text`, before vocabulary lookup.
  public func split(_ text: String) -> [String] {
    if settings.level == .word, let tokens = splitASCIIWords(text) { return tokens }
    return splitCharacters(text)
  }

  /// ``split(_:)`` by Characters (grapheme clusters): the definition, for any text.
  func splitCharacters(_ text: String) -> [String] {
    let text = settings.lowercase ? text.lowercased() : text
    switch settings.level {
    case .char:
      return text.map { String($0) }
    case .word:
      var tokens: [String] = []
      var current = ""
      for character in text {
        if character.isWhitespace {
          if !current.isEmpty { tokens.append(current) }
          current = ""
        } else if settings.splitPunctuation && Self.isPunctuation(character) {
          if !current.isEmpty { tokens.append(current) }
          current = ""
          tokens.append(String(character))
        } else {
          current.append(character)
        }
      }
      if !current.isEmpty { tokens.append(current) }
      return tokens
    }
  }

  /// Joins tokens into text: characters are concatenated; words are separated by spaces, with no
  /// space before closing punctuation.
  public func join(_ tokens: [String]) -> String {
    let tokens = settings.endOfSequence.map { end in tokens.filter { $0 != end } } ?? tokens
    switch settings.level {
    case .char:
      return tokens.joined()
    case .word:
      var text = ""
      for token in tokens {
        let attaches = token.count == 1 && token.first.map { Self.attachesLeft($0) } == true
        if !text.isEmpty && !attaches { text += " " }
        text += token
      }
      return text
    }
  }

  /// Token ids for `text`. Unknown tokens map to the unknown token, or are reported in `unknown`
  /// when the vocabulary has none.
  public func encode(_ text: String, vocabulary: Vocabulary) -> (ids: [Int], unknown: [String]) {
    let unknownID = settings.unknownToken.flatMap { vocabulary.id(of: $0) }
    var ids: [Int] = []
    var unknown: [String] = []
    for token in split(text) {
      if let id = vocabulary.id(of: token) {
        ids.append(id)
      } else if let unknownID {
        ids.append(unknownID)
      } else {
        unknown.append(token)
      }
    }
    return (ids, unknown)
  }

  /// Word splitting of all-ASCII text byte by byte, with the same tokens as the Character loop
  /// (several times faster: no grapheme breaking, no Unicode property look-ups). In ASCII every
  /// Character is one byte, except "\r\n", which is white space either way; lower-casing only maps
  /// A-Z. Nil when `text` has a non-ASCII byte or no contiguous UTF-8.
  func splitASCIIWords(_ text: String) -> [String]? {
    let (lowercase, splitPunctuation) = (settings.lowercase, settings.splitPunctuation)
    let classes = ASCIIClasses.table
    return text.utf8.withContiguousStorageIfAvailable { bytes -> [String]? in
      var tokens: [String] = []
      var start = 0
      func flush(_ end: Int) {
        guard end > start else { return }
        let word = UnsafeBufferPointer(rebasing: bytes[start..<end])
        if lowercase {
          tokens.append(
            String(unsafeUninitializedCapacity: word.count) { out in
              for (i, byte) in word.enumerated() { out[i] = byte &- 0x41 < 26 ? byte | 0x20 : byte }
              return word.count
            })
        } else {
          tokens.append(String(decoding: word, as: UTF8.self))
        }
      }
      for (i, byte) in bytes.enumerated() {
        guard byte < 0x80 else { return nil }
        switch classes[Int(byte)] {
        case .whitespace:
          flush(i)
          start = i + 1
        case .punctuation where splitPunctuation:
          flush(i)
          tokens.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<(i + 1)]), as: UTF8.self))
          start = i + 1
        default:
          continue
        }
      }
      flush(bytes.count)
      return tokens
    } ?? nil
  }

  /// What each ASCII byte is to the word splitter, worked out once from the Character predicates
  /// themselves, so the fast path cannot disagree with them.
  enum ASCIIClasses {
    enum Kind { case word, whitespace, punctuation }

    static let table: [Kind] = (0..<128).map { byte in
      let character = Character(Unicode.Scalar(UInt8(byte)))
      if character.isWhitespace { return .whitespace }
      return Tokenizer.isPunctuation(character) ? .punctuation : .word
    }
  }

  static func isPunctuation(_ c: Character) -> Bool {
    c.unicodeScalars.allSatisfy { scalar in
      switch scalar.properties.generalCategory {
      case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
        .initialPunctuation, .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol,
        .otherSymbol:
        return scalar != "_" && scalar != "'" && scalar != "-"
      default:
        return false
      }
    }
  }

  static func attachesLeft(_ c: Character) -> Bool {
    ".,!?;:)]}%".contains(c)
  }
}
