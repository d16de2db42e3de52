/// Something a caller must supply because a file does not store it, or a choice the caller must
/// make. Library errors name one of these instead of a command-line flag, so each front end (the
/// `rnnkit` command, a Swift program, the C API) can phrase its own advice.
public enum ModelInput: String, Sendable, Codable, CaseIterable {
  /// The hidden activation f.
  case hiddenActivation
  /// The output activation g.
  case outputActivation
  /// The vocabulary of a token model.
  case vocabulary
  /// The name of the input format, when neither the content nor the file name tells it.
  case inputFormat
  /// The name of the output format, when the file name does not tell it.
  case outputFormat
  /// Permission to replace an existing file.
  case overwrite
  /// The module prefix of the recurrent layer, when a PyTorch state dict holds several.
  case modulePrefix
  /// The key of a training checkpoint that holds the state dict.
  case stateDictKey
}

/// An error that a caller can resolve by supplying a ``ModelInput``.
public protocol ModelInputRequest: Error {
  /// What the caller should supply; nil when the error is not about a missing input.
  var requestedInput: ModelInput? { get }
}
