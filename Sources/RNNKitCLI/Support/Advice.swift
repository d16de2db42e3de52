import ArgumentParser
import RNNKit

/// The one place where the library's structured errors become command-line advice: an error that
/// asks for a ``ModelInput`` gets the flag that supplies it.
enum Advice {
  static func flag(for input: ModelInput) -> String {
    switch input {
    case .hiddenActivation: return "--hidden-activation"
    case .outputActivation: return "--output-activation"
    case .vocabulary: return "--vocab FILE"
    case .inputFormat: return "--from"
    case .outputFormat: return "--to"
    case .overwrite: return "--force"
    case .modulePrefix: return "--prefix"
    case .stateDictKey: return "--key"
    }
  }

  static func flag(for parameter: TrainingParameter) -> String {
    switch parameter {
    case .hiddenSize: return "--hidden"
    case .epochs: return "--epochs"
    case .learningRate: return "--learning-rate"
    case .clip: return "--clip"
    case .bpttLength: return "--bptt-length"
    case .minCount: return "--min-count"
    case .tokenizer: return "--tokenizer"
    case .lowercase: return "--lowercase"
    case .hiddenActivation: return "--hidden-activation"
    case .threads: return "--threads"
    }
  }

  /// `error`, with the flag that resolves it appended when there is one.
  static func adding(to error: any Error) -> any Error {
    if let error = error as? TrainingError {
      switch error {
      case .invalidParameter(let parameter, let value, let reason):
        return CLIError("\(flag(for: parameter)) \(value): \(reason)")
      case .conflictsWithBaseModel(_, let parameter, _):
        return CLIError("\(error); drop \(flag(for: parameter)) to continue it, or train a new model")
      case .nonFiniteLoss: return CLIError("\(error) (--learning-rate, --clip)")
      default: return error
      }
    }
    if let error = error as? ConversionError, case .verificationFailed(let output, let report) = error {
      return CLIError("\(displaySafe(output)): --verify failed: \(report.failure); nothing was written")
    }
    guard let input = requestedInput(error) else { return error }
    return CLIError("\(error); pass \(flag(for: input))")
  }

  /// The container layer knows nothing of models, so its "already exists" is mapped here.
  static func requestedInput(_ error: any Error) -> ModelInput? {
    if let request = error as? any ModelInputRequest { return request.requestedInput }
    if case .destinationExists = error as? FormatError { return .overwrite }
    if let error = error as? ContainerError, case .destinationExists = error.error { return .overwrite }
    return nil
  }
}
