import RNNFormat
import RNNModel

/// Why the runtime refused an input or a model. Each case renders as one actionable line.
public enum RuntimeError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The input sequence (or the batch) holds no step.
  case emptyInput
  /// A token id outside `0..<vocabularySize`; `position` counts from 0.
  case tokenOutOfRange(position: Int, id: Int, vocabularySize: Int)
  /// A dense input vector whose length is not the model's input size X.
  case wrongVectorSize(position: Int, found: Int, expected: Int)
  /// Token input for a dense model, or dense input for a token model.
  case inputKindMismatch(model: InputKind, given: InputKind)
  /// The hidden state became NaN or infinite at `step` (counting from 0) of sequence `sequence`
  /// (nil for a single sequence).
  case nonFiniteHidden(step: Int, sequence: Int?)
  /// Text tokens that are not in the vocabulary of a model without an unknown token.
  case unknownTokens([String])
  /// The operation needs a distribution over the vocabulary, which this model does not produce.
  case notALanguageModel(String)
  /// A restored hidden state of the wrong size.
  case wrongStateSize(found: Int, expected: Int)
  /// A parameter outside its allowed range, such as `topK` = 0.
  case invalidArgument(String)
  /// Weights the runtime cannot prepare.
  case invalidModel(String)
  /// OpenBLAS, which the runtime's matrix products need, could not be loaded.
  case openBLAS(OpenBLASError)
  /// Weights verified on first use did not match their checksum (``ReadOptions/verifyOnFirstUse``),
  /// or could not be read from their file (it shrank after it was opened); nothing was computed
  /// from them.
  case corruptWeights(FormatError)

  public var description: String {
    switch self {
    case .emptyInput:
      return "the input is empty; give at least one token or vector"
    case .tokenOutOfRange(let position, let id, let size):
      return
        "token id \(id) at position \(position) is outside the vocabulary (valid ids are 0...\(size - 1))"
    case .wrongVectorSize(let position, let found, let expected):
      return "input vector \(position) has \(found) values, expected \(expected) (the model's input size X)"
    case .inputKindMismatch(let model, let given):
      switch model {
      case .tokens:
        return "this model takes token ids (or text), not \(given == .dense ? "dense vectors" : "\(given)")"
      case .dense:
        return
          "this model takes dense input vectors, not \(given == .tokens ? "token ids or text" : "\(given)")"
      }
    case .nonFiniteHidden(let step, let sequence):
      let which = sequence.map { " of sequence \($0)" } ?? ""
      return
        "the hidden state became NaN or infinite at step \(step)\(which); the weights or inputs are too large"
    case .unknownTokens(let tokens):
      let shown = tokens.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
      let more = tokens.count > 5 ? " and \(tokens.count - 5) more" : ""
      return "\(shown)\(more) not in the vocabulary, and the model has no unknown token"
    case .notALanguageModel(let reason):
      return reason
    case .wrongStateSize(let found, let expected):
      return "a hidden state of \(found) values was given, expected \(expected) (the hidden size H)"
    case .invalidArgument(let reason):
      return reason
    case .invalidModel(let reason):
      return reason
    case .openBLAS(let error):
      return error.description
    case .corruptWeights(let error):
      return error.description
    }
  }
}
