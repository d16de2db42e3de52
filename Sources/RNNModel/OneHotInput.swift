extension InputKind {
  /// The input kind of a model whose recurrence reads a dense vector of `features` values, as
  /// imported with `tokens` (a vocabulary supplied or stored beside it, or nil).
  ///
  /// A vocabulary of exactly `features` tokens makes it a token model: x_t is the one-hot vector
  /// of the token, and W_x·x_t is W_x's column for it, so W_x stays as stored. Without a
  /// vocabulary the model stays dense. A vocabulary of another size is an error naming both.
  public static func ofDenseInput(features: Int, vocabulary tokens: [String]?) throws(ModelError) -> (
    kind: InputKind, vocabulary: Vocabulary?
  ) {
    guard let tokens else { return (.dense, nil) }
    guard tokens.count == features else {
      throw .vocabularySizeMismatch(vocabulary: tokens.count, inputSize: features)
    }
    return (.tokens, try Vocabulary(tokens))
  }
}
