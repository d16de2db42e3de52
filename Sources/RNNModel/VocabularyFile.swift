import Foundation
import RNNFormat

/// Errors about a vocabulary file (the one given with `--vocab`): the file and the reason.
public struct VocabularyFileError: FileNamingError, Sendable {
  /// The vocabulary file.
  public var path: String
  /// Why it cannot be used.
  public var reason: String
  public var description: String { displaySafe("\(path): \(reason)") }
}

/// Reads a vocabulary file: one token per line, in id order, UTF-8. A final newline is optional
/// and a trailing carriage return on a line is dropped. Files over `maxBytes` are refused before
/// more than that is read (a vocabulary path can name a pipe or a device that never ends).
public func readVocabularyFile(_ path: String, maxBytes: Int = 1 << 30) throws -> [String] {
  // FileHandle rather than FileManager, so process substitutions and pipes work too.
  guard let handle = FileHandle(forReadingAtPath: path) else {
    throw VocabularyFileError(path: path, reason: "cannot be read")
  }
  defer { try? handle.close() }
  var data = Data()
  while true {
    let next: Data?
    do { next = try handle.read(upToCount: 1 << 20) } catch {
      throw VocabularyFileError(path: path, reason: "cannot be read")
    }
    // nil or no bytes: the end of the file.
    guard let chunk = next, !chunk.isEmpty else { break }
    guard data.count + chunk.count <= maxBytes else {
      throw VocabularyFileError(path: path, reason: "is larger than \(maxBytes) bytes")
    }
    data += chunk
  }
  return try parseVocabulary(data, path: path)
}

/// The tokens of a vocabulary file's bytes; `path` names the file in errors. Lines are split on
/// the byte 0x0A (not on Swift characters, where "\r\n" is one character that "\n" never
/// matches), and one 0x0D before it is dropped.
public func parseVocabulary(_ data: Data, path: String) throws -> [String] {
  let valid = data.withUnsafeBytes { isValidUTF8($0) }
  guard valid else { throw VocabularyFileError(path: path, reason: "is not valid UTF-8") }
  var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
    String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
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
