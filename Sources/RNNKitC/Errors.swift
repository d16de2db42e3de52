import CRNNKitABI
import Foundation
import RNNKit

/// The calling thread's last error message, as a C string that stays valid until the thread's
/// next call.
final class LastError: @unchecked Sendable {
  private static let key = "rnnkit.last-error"
  private var pointer: UnsafeMutablePointer<CChar>

  private init() { pointer = strdup("")! }
  deinit { free(pointer) }

  static var current: LastError {
    let dictionary = Thread.current.threadDictionary
    if let existing = dictionary[key] as? LastError { return existing }
    let created = LastError()
    dictionary[key] = created
    return created
  }

  func set(_ message: String) {
    free(pointer)
    pointer = strdup(displaySafe(message))!
  }

  var cString: UnsafePointer<CChar> { UnsafePointer(pointer) }
}

/// Runs `body`, turning a thrown error into a status and the thread's last error message.
func guarded(_ body: () throws -> Void) -> rnnkit_status {
  do {
    try body()
    LastError.current.set("")
    return RNNKIT_OK
  } catch let error as CallError {
    LastError.current.set(error.message)
    return error.status
  } catch {
    LastError.current.set("\(error)")
    return status(for: error)
  }
}

/// A failure of the C call itself (a NULL pointer, a buffer too small).
struct CallError: Error {
  var status: rnnkit_status
  var message: String
  static func invalid(_ message: String) -> CallError {
    CallError(status: RNNKIT_ERROR_INVALID_ARGUMENT, message: message)
  }
}

func status(for error: any Error) -> rnnkit_status {
  if (error as? any ModelInputRequest)?.requestedInput == .overwrite { return RNNKIT_ERROR_WRITE }
  if (error as? any ModelInputRequest)?.requestedInput != nil { return RNNKIT_ERROR_NEEDS_INPUT }
  if case .corruptWeights = error as? RuntimeError { return RNNKIT_ERROR_BAD_FILE }
  switch error {
  case is IsolationError: return RNNKIT_ERROR_ISOLATION
  case is RuntimeError, is TextScoringError: return RNNKIT_ERROR_UNSUPPORTED
  case is ConversionError: return RNNKIT_ERROR_WRITE
  default: return RNNKIT_ERROR_BAD_FILE
  }
}

/// A non-NULL C string argument as a Swift string.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
  guard let pointer else { throw CallError.invalid("\(name) is NULL") }
  return String(cString: pointer)
}
