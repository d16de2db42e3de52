import RNNFormat

/// What can make a container an invalid Elman model. Each case renders as one actionable line.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The container itself is malformed.
  case container(FormatError)
  /// A required metadata key is absent.
  case missingKey(String)
  /// A metadata key has the wrong type.
  case wrongType(key: String, found: String, expected: String)
  /// A metadata value is not one of the allowed values.
  case invalidValue(key: String, value: String, allowed: [String])
  /// An activation that this build does not implement.
  case unknownActivation(key: String, name: String, known: [String])
  /// A required tensor is absent.
  case missingTensor(String)
  /// A tensor has the wrong shape.
  case wrongShape(tensor: String, found: [Int], expected: String)
  /// A tensor has a dtype that its role does not allow.
  case wrongDType(tensor: String, found: String, expected: String)
  /// The vocabulary is malformed.
  case vocabulary(String)
  /// The vocabulary size differs from the input size X of a token model.
  case vocabularySizeMismatch(vocabulary: Int, inputSize: Int)
  /// A weight is NaN or infinite.
  case nonFinite(tensor: String, nanCount: Int, infCount: Int)
  /// Model dimensions that cannot be used.
  case invalidDimensions(String)

  public var description: String { displaySafe(message) }

  private var message: String {
    switch self {
    case .container(let error): return error.description
    case .missingKey(let key): return "metadata key \"\(key)\" is required but missing"
    case .wrongType(let key, let found, let expected):
      return "metadata key \"\(key)\" is a \(found), expected a \(expected)"
    case .invalidValue(let key, let value, let allowed):
      return "metadata key \"\(key)\" is \"\(value)\"; allowed: \(allowed.joined(separator: ", "))"
    case .unknownActivation(let key, let name, let known):
      return
        "\(key) \"\(name)\" is not an activation this build knows (known: \(known.joined(separator: ", ")))"
    case .missingTensor(let name): return "tensor \"\(name)\" is required but missing"
    case .wrongShape(let tensor, let found, let expected):
      return "\(tensor) has shape \(found), expected \(expected)"
    case .wrongDType(let tensor, let found, let expected):
      return "\(tensor) has dtype \(found), expected \(expected)"
    case .vocabulary(let reason): return "vocabulary: \(reason)"
    case .vocabularySizeMismatch(let vocabulary, let inputSize):
      return
        "vocabulary has \(vocabulary) tokens but the input size X is \(inputSize); a token model needs them equal"
    case .nonFinite(let tensor, let nanCount, let infCount):
      return "\(tensor) has \(nanCount) NaN and \(infCount) infinite values"
    case .invalidDimensions(let reason): return reason
    }
  }
}

/// A ``ModelError`` with the file it came from, rendered as `file: reason`.
public struct ModelFileError: FileNamingError, Sendable {
  /// The file.
  public var path: String
  /// What is wrong with it.
  public var error: ModelError
  /// Wraps `error` with the file it came from.
  public init(path: String, error: ModelError) {
    self.path = path
    self.error = error
  }
  public var description: String { displaySafe(path) + ": " + error.description }
}
