import RNNFormat
import RNNModel

/// Why an HDF5 or Keras file cannot be read or written. Renders as one line naming the file, the
/// part (dataset, attribute, layer or zip member) and the reason, for example
/// `model.h5: /layers/dense/vars/0 has shape [16, 30], expected [16, 17]`.
public struct HDF5Error: FileNamingError, Sendable, ModelInputRequest {
  /// The file.
  public var path: String
  /// The dataset, attribute, group, layer or zip member at fault; nil for the file as a whole.
  public var part: String?
  /// What is wrong.
  public var reason: Reason

  /// The kinds of problem, each rendered as one line.
  public enum Reason: Sendable, Equatable {
    /// libhdf5 refused an operation; `detail` is the innermost message of its error stack.
    case library(operation: String, detail: String)
    /// A required dataset, group or attribute is absent.
    case missing
    /// A dataset has the wrong shape.
    case wrongShape(found: [Int], expected: String)
    /// A dataset or attribute has a type the bridge cannot use.
    case unsupportedType(found: String, expected: String)
    /// The model uses a layer or an option RNNKit cannot represent.
    case unsupportedArchitecture(String)
    /// A value is malformed.
    case invalid(String)
    /// The caller must supply something the file does not store (activations, a vocabulary).
    case needsInput(ModelInput, String)
    /// The output file exists and overwriting was not requested.
    case destinationExists
    /// The requested dtype cannot be written in this format.
    case unsupportedDType(String)
    /// The object leads outside the file (an external, soft or user-defined link, external raw
    /// storage, a virtual dataset); the bridge reads only the file it was given.
    case outsideFile(String)
  }

  /// What the caller can supply to get past this error, if anything.
  public var requestedInput: ModelInput? {
    switch reason {
    case .needsInput(let input, _): return input
    case .destinationExists: return .overwrite
    default: return nil
    }
  }

  /// Creates an error about `part` of the file at `path`.
  public init(path: String, part: String? = nil, reason: Reason) {
    self.path = path
    self.part = part
    self.reason = reason
  }

  /// The line, with control characters escaped (``displaySafe``): names and values read from a
  /// file (layer names, attribute names and values, dataset paths, link targets, zip member
  /// names) can hold line breaks and terminal escapes.
  public var description: String { displaySafe(message) }

  private var message: String {
    let subject = part.map { "\(path): \($0)" } ?? path
    switch reason {
    case .library(let operation, let detail):
      return "\(subject): \(operation) failed" + (detail.isEmpty ? "" : ": \(detail)")
    case .missing:
      return "\(subject) is missing"
    case .wrongShape(let found, let expected):
      return "\(subject) has shape \(found), expected \(expected)"
    case .unsupportedType(let found, let expected):
      return "\(subject) has type \(found), expected \(expected)"
    case .unsupportedArchitecture(let reason):
      return "\(subject): unsupported architecture: \(reason)"
    case .invalid(let reason):
      return "\(subject): \(reason)"
    case .needsInput(_, let reason):
      return "\(subject): \(reason)"
    case .destinationExists:
      return "\(subject) already exists"
    case .unsupportedDType(let reason):
      return "\(subject): \(reason)"
    case .outsideFile(let reason):
      return "\(subject) \(reason)"
    }
  }
}

extension H5Failure {
  func error(path: String, part: String? = nil) -> HDF5Error {
    if let refusal { return HDF5Error(path: path, part: refusal.part, reason: .outsideFile(refusal.reason)) }
    return HDF5Error(path: path, part: part, reason: .library(operation: operation, detail: detail))
  }
}

/// Converts whatever a bridge call threw into an ``HDF5Error`` about `path` (and `part`).
func hdf5Error(_ error: any Error, path: String, part: String? = nil) -> HDF5Error {
  if let error = error as? HDF5Error { return error }
  if let failure = error as? H5Failure { return failure.error(path: path, part: part) }
  return HDF5Error(path: path, part: part, reason: .invalid("\(error)"))
}
