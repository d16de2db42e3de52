import RNNModel
import RNNRuntime

/// A training setting, named in errors so that each front end can phrase it its own way.
public enum TrainingParameter: String, Sendable, CaseIterable {
  case hiddenSize = "hidden size"
  case epochs = "epochs"
  case learningRate = "learning rate"
  case clip = "clipping norm"
  case bpttLength = "BPTT length"
  case minCount = "minimum count"
  case tokenizer = "tokenizer"
  case lowercase = "lower-casing"
  case hiddenActivation = "hidden activation"
  case threads = "threads"
}

/// What can stop training. Each case renders as one line naming the file or setting and the reason.
public enum TrainingError: Error, Sendable, CustomStringConvertible {
  /// The corpus file could not be read.
  case unreadableCorpus(path: String, reason: String)
  /// The corpus is not valid UTF-8.
  case corpusNotUTF8(path: String, byteOffset: Int)
  /// The corpus has no tokens.
  case emptyCorpus(path: String)
  /// No line of the corpus has two tokens, so there is nothing to predict.
  case tooFewTokens(path: String, tokens: Int)
  /// A setting is out of range.
  case invalidParameter(TrainingParameter, value: String, reason: String)
  /// The loss or the gradients became NaN or infinite.
  case nonFiniteLoss(epoch: Int, learningRate: Double, clip: Double?)
  /// The model given to continue training from does not fit the corpus or the options.
  case incompatibleModel(path: String, reason: String)
  /// A setting asked for differs from the model given to continue; leaving it out continues the
  /// model as it is.
  case conflictsWithBaseModel(path: String, parameter: TrainingParameter, reason: String)
  /// Building the model failed.
  case model(ModelError)
  /// The BLAS backend was chosen, and OpenBLAS could not be loaded.
  case openBLAS(OpenBLASError)

  public var description: String {
    switch self {
    case .unreadableCorpus(let path, let reason): return "\(path): cannot read the corpus: \(reason)"
    case .corpusNotUTF8(let path, let offset):
      return
        "\(path): the corpus is not valid UTF-8 (first bad byte at offset \(offset)); convert it to UTF-8"
    case .emptyCorpus(let path): return "\(path): the corpus has no tokens; training needs text"
    case .tooFewTokens(let path, let tokens):
      return
        "\(path): the corpus has \(tokens) token\(tokens == 1 ? "" : "s") but no line with two or more; training predicts each token from the ones before it on its line"
    case .invalidParameter(let parameter, let value, let reason):
      return "\(parameter.rawValue) \(value): \(reason)"
    case .nonFiniteLoss(let epoch, let learningRate, let clip):
      let clipAdvice = clip.map { "a smaller clipping norm than \($0)" } ?? "gradient clipping (norm 5, say)"
      return
        "the loss became NaN or infinite in epoch \(epoch); no model was written. Try a smaller learning rate than \(learningRate) or \(clipAdvice)"
    case .incompatibleModel(let path, let reason): return "\(path): \(reason)"
    case .conflictsWithBaseModel(let path, _, let reason): return "\(path): \(reason)"
    case .model(let error): return error.description
    case .openBLAS(let error): return error.description
    }
  }
}
