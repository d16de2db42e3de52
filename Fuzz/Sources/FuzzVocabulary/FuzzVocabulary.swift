import Foundation
import RNNModel

/// Feeds arbitrary bytes to the vocabulary-file reader: to `parseVocabulary` directly, and for one
/// input in four (writing a file is slow) to `readVocabularyFile` through a file, with the default
/// size cap and with a cap of half the input, which must agree with it. Whatever the reader
/// accepts must be one non-empty token per line, and build a vocabulary or fail to (a duplicate)
/// in one line; whatever it refuses must say so in one line of printable text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVocabulary(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Data(bytes: data, count: size)
  let parsed = Result { try parseVocabulary(bytes, path: path) }
  check(parsed, bytes)
  guard size % 4 == 0 else { return 0 }
  _ = FileManager.default.createFile(atPath: path, contents: bytes)
  for cap in [1 << 30, size / 2] {
    let read = Result { try readVocabularyFile(path, maxBytes: cap) }
    if size <= cap {
      precondition("\(read)" == "\(parsed)", "the file reader and the parser disagree")
    } else if case .success = read {
      preconditionFailure("read \(size) bytes under a cap of \(cap)")
    }
    check(read, bytes)
  }
  return 0
}

private let path = scratch + "/vocab.txt"

func check(_ result: Result<[String], any Error>, _ bytes: Data) {
  switch result {
  case .success(let tokens):
    precondition(!tokens.isEmpty, "no tokens")
    precondition(
      tokens.allSatisfy { !$0.isEmpty && !$0.unicodeScalars.contains("\n") }, "an empty token or a line break"
    )
    var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    // A final line that is empty, or only the carriage return of a "\r\n", ends the file.
    if lines.last?.isEmpty == true || lines.last.map(Array.init) == [0x0D] { lines.removeLast() }
    precondition(tokens.count == lines.count, "\(tokens.count) tokens from \(lines.count) lines")
    do {
      let vocabulary = try Vocabulary(tokens)
      for (id, token) in tokens.enumerated() {
        precondition(vocabulary[id] == token && vocabulary.id(of: token) == id, "token \(id) lost")
      }
    } catch {
      requireOneLine(error.description)
    }
  case .failure(let error):
    requireOneLine("\(error)")
  }
}

/// Error messages are one line of printable text, whatever the file holds.
func requireOneLine(_ message: String) {
  for scalar in message.unicodeScalars where scalar.properties.generalCategory == .control {
    fatalError(
      "error message contains control character U+\(String(scalar.value, radix: 16)): \(message.debugDescription)"
    )
  }
}

private let scratch: String = {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-vocabulary-\(getpid())")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}()
