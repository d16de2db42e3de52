import Foundation
import RNNFormat

/// Errors about a vocabulary file.
public struct VocabularyFileError: Error, Sendable, CustomStringConvertible {
  /// The vocabulary file.
  public var path: String
  /// Why it cannot be used.
  public var reason: String
  public var description: String { displaySafe("\(path): \(reason)") }
}

/// Reads a vocabulary file: one token per line, in id order, UTF-8. A final newline is optional
/// and a trailing carriage return on a line is dropped.
public func readVocabularyFile(_ path: String) throws -> [String] {
  // FileHandle rather than FileManager, so process substitutions and pipes work too.
  guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
    throw VocabularyFileError(path: path, reason: "cannot be read")
  }
  try? handle.close()
  guard let text = String(data: data, encoding: .utf8) else {
    throw VocabularyFileError(path: path, reason: "is not valid UTF-8")
  }
  var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
    line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
  }
  if lines.last == "" { lines.removeLast() }
  guard !lines.isEmpty else {
    throw VocabularyFileError(path: path, reason: "is empty; it needs one token per line")
  }
  if let empty = lines.firstIndex(of: "") {
    throw VocabularyFileError(path: path, reason: "line \(empty + 1) is empty; every line must hold a token")
  }
  return lines
}
