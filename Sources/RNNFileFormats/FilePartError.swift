import RNNFormat
import RNNModel

/// Why a file of `Format` cannot be read or written: the file, the part at fault and the reason,
/// rendered as one line `file: part: reason` with file-controlled text escaped. One type for every
/// format whose errors have this shape; each format's own name (``SafetensorsError``,
/// ``NumPyError``, ``ONNXError``, ``PyTorchError``) is this type with that format, so a caller can
/// still catch one format's errors by type.
public struct FilePartError<Format: ModelFileFormat>: FileNamingError, Sendable, ModelInputRequest {
  /// The file.
  public var path: String
  /// The part at fault: a header field, tensor, archive entry, message field or state-dict key.
  public var part: String
  /// Why, in words.
  public var reason: String
  /// What the caller can supply to get past this error, if anything.
  public var requestedInput: ModelInput?

  /// Creates an error.
  public init(path: String, part: String, reason: String, requestedInput: ModelInput? = nil) {
    self.path = path
    self.part = part
    self.reason = reason
    self.requestedInput = requestedInput
  }

  public var description: String { displaySafe("\(path): \(part): \(reason)") }
}

/// A safetensors file's error; the part is the header field or tensor at fault.
public typealias SafetensorsError = FilePartError<SafetensorsFormat>
/// A NumPy archive's error; the part is the archive structure, entry or field, such as
/// `W.npy: descr`.
public typealias NumPyError = FilePartError<NumPyFormat>
/// An ONNX file's error, or a model's that cannot be written as one; the part is the message
/// field, node or tensor at fault.
public typealias ONNXError = FilePartError<ONNXFormat>
/// A PyTorch state dict's error (`.pt` or torch-named safetensors); the part is the archive entry,
/// pickle part or state-dict key at fault.
public typealias PyTorchError = FilePartError<PyTorchFormat>
