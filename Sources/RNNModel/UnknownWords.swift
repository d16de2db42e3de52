/// The words of a text that a model's vocabulary lacks, which the model reads as its unknown token.
public struct UnknownWordReport: Sendable, Equatable {
  /// How many words of the text are not in the vocabulary (each occurrence counts).
  public var count: Int
  /// The first distinct unknown words, in order of appearance, at most the limit asked for.
  public var first: [String]
  /// The token they are read as.
  public var unknownToken: String
}

extension ElmanModel {
  /// The words of `text` that the vocabulary lacks, line by line as the model tokenizes them;
  /// nil when there are none, or when the model has no vocabulary or no unknown token (its encoder
  /// then refuses such words itself).
  public func unknownWords(in text: String, keeping limit: Int = 5) -> UnknownWordReport? {
    guard let vocabulary, let unknownToken = tokenizer.unknownToken else { return nil }
    let splitter = textTokenizer
    var count = 0
    var first: [String] = []
    for line in TextLines.split(text) {
      for token in splitter.split(String(line)) where vocabulary.id(of: token) == nil {
        count += 1
        if first.count < limit && !first.contains(token) { first.append(token) }
      }
    }
    return count > 0 ? UnknownWordReport(count: count, first: first, unknownToken: unknownToken) : nil
  }
}
