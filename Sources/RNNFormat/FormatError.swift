/// Everything that can go wrong while reading or writing a `.rnn` container.
///
/// Each case carries what a user needs to act on it; ``description`` renders it as one line.
/// The file name is added by ``ContainerError``, which wraps these with a path.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file is empty.
  case emptyFile
  /// The first bytes are not the `.rnn` magic number.
  case notAnRNNFile
  /// The file ends before a structure that it declares.
  case truncated(part: String, needed: Int, available: Int)
  /// The file was written by a newer major version than this reader supports.
  case unsupportedMajorVersion(found: UInt16, supported: UInt16)
  /// The byte-order marker is not the little-endian one.
  case wrongByteOrder(marker: UInt32)
  /// A field holds a value that the format does not allow.
  case invalidField(part: String, reason: String)
  /// A size, count or rank exceeds a limit in ``ReadOptions``.
  case limitExceeded(part: String, value: UInt64, limit: Int)
  /// Arithmetic on declared sizes overflowed.
  case overflow(part: String)
  /// A checksum does not match.
  case checksumMismatch(part: String, stored: UInt64, computed: UInt64)
  /// Two entries share a name.
  case duplicate(part: String, name: String)
  /// A name or string is not valid UTF-8.
  case invalidUTF8(part: String)
  /// The tensor layout breaks an alignment, order or no-overlap rule.
  case layout(tensor: String, reason: String)
  /// A tensor was asked for that the file does not contain.
  case missingTensor(String)
  /// A tensor's dtype cannot be viewed as the requested type.
  case unsupportedDType(tensor: String, dtype: String)
  /// The destination exists and overwriting was not allowed.
  case destinationExists(String)
  /// The destination is a symbolic link, a device, a FIFO, a socket or a folder, which a write never
  /// replaces; `kind` names it in words.
  case notRegularFile(String, kind: String)
  /// An operating-system call failed.
  case system(operation: String, errno: Int32, message: String)

  public var description: String { displaySafe(message) }

  private var message: String {
    switch self {
    case .emptyFile: return "the file is empty (0 bytes)"
    case .notAnRNNFile: return "not an .rnn file (bad magic number)"
    case .truncated(let part, let needed, let available):
      return "truncated: \(part) needs \(needed) bytes, only \(available) available"
    case .unsupportedMajorVersion(let found, let supported):
      return
        "needs format version \(found).x, but this reader supports \(supported).x; upgrade RNNKit to read it"
    case .wrongByteOrder(let marker):
      return "byte-order marker is 0x\(String(marker, radix: 16)), expected little-endian 0x0a0b0c0d"
    case .invalidField(let part, let reason): return "\(part): \(reason)"
    case .limitExceeded(let part, let value, let limit):
      return "\(part) is \(value), over the limit of \(limit)"
    case .overflow(let part): return "\(part) overflows a 64-bit size"
    case .checksumMismatch(let part, let stored, let computed):
      return
        "\(part) checksum mismatch: stored \(hex64(stored)), computed \(hex64(computed)); the file is corrupt"
    case .duplicate(let part, let name): return "duplicate \(part) \"\(name)\""
    case .invalidUTF8(let part): return "\(part) is not valid UTF-8"
    case .layout(let tensor, let reason): return "tensor \"\(tensor)\": \(reason)"
    case .missingTensor(let name): return "no tensor named \"\(name)\""
    case .unsupportedDType(let tensor, let dtype):
      return "tensor \"\(tensor)\" has dtype \(dtype), which cannot be read as floats"
    case .destinationExists(let path): return "\(path) already exists"
    case .notRegularFile(_, let kind):
      // Every writer's error adds the path (ContainerError, HDF5Error, ...).
      return "is a \(kind), not a regular file; refusing to replace it"
    case .system(let operation, let errno, let message):
      return "\(operation) failed: \(message) (errno \(errno))"
    }
  }
}

/// A ``FormatError`` together with the file it happened in.
public struct ContainerError: Error, Sendable, CustomStringConvertible {
  /// The file's path as the caller gave it.
  public var path: String
  /// What went wrong.
  public var error: FormatError

  /// Wraps `error` with the file it came from.
  public init(path: String, error: FormatError) {
    self.path = path
    self.error = error
  }

  public var description: String { displaySafe(path) + ": " + error.description }
}

func hex64(_ value: UInt64) -> String {
  let digits = String(value, radix: 16)
  return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// `text` with control characters and line separators escaped as `\u{…}`, so that names read from
/// a hostile file can never break an error message across lines or hide part of it.
public func displaySafe(_ text: String) -> String {
  var out = ""
  out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
  for scalar in text.unicodeScalars {
    switch scalar.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator, .format:
      out += "\\u{\(String(scalar.value, radix: 16))}"
    default:
      out.unicodeScalars.append(scalar)
    }
  }
  return out
}
