import RNNModel

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A training text split into lines of token strings.
///
/// Each non-empty line is one sequence: the hidden state starts at zero at the beginning of every
/// line, as it does when a model is run on a prompt, and the order of lines is shuffled each epoch.
public struct Corpus: Sendable {
  /// A name for messages, usually the file path.
  public var name: String
  /// The token strings of each non-empty line.
  public var lines: [[String]]

  /// Tokenizes `text` line by line.
  public init(text: String, tokenizer: TokenizerSettings, name: String = "corpus") {
    self.name = name
    let splitter = Tokenizer(settings: tokenizer)
    lines = TextLines.split(text).map { splitter.split(String($0)) }.filter { !$0.isEmpty }
  }

  /// Reads a UTF-8 text file, checking the encoding and dropping a leading byte-order mark.
  public static func readText(path: String) throws(TrainingError) -> String {
    guard let file = fopen(path, "rb") else {
      throw .unreadableCorpus(path: path, reason: String(cString: strerror(errno)))
    }
    defer { fclose(file) }
    var info = stat()
    if fstat(fileno(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
      throw .unreadableCorpus(path: path, reason: "it is a directory, not a text file")
    }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let read = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
      if read > 0 { bytes += buffer[0..<read] }
      if read < buffer.count {
        if ferror(file) != 0 { throw .unreadableCorpus(path: path, reason: String(cString: strerror(errno))) }
        break
      }
    }
    if let offset = firstInvalidUTF8(bytes) { throw .corpusNotUTF8(path: path, byteOffset: offset) }
    // A byte-order mark is not text; left in, it would glue itself to the first token.
    let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    return String(decoding: bytes[start...], as: UTF8.self)
  }

  /// The byte offset of the first invalid UTF-8 sequence, or nil.
  static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var offset = 0
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let scalar): offset += scalar.count
      case .emptyInput: return nil
      case .error: return offset
      }
    }
  }

  /// The number of tokens in all lines.
  public var tokenCount: Int { lines.reduce(0) { $0 + $1.count } }

  /// Throws unless some line has at least two tokens.
  public func checkTrainable() throws(TrainingError) {
    let count = tokenCount
    if count == 0 { throw .emptyCorpus(path: name) }
    if !lines.contains(where: { $0.count >= 2 }) { throw .tooFewTokens(path: name, tokens: count) }
  }

  /// A vocabulary of the tokens seen at least `minCount` times, after `unknownToken` (id 0).
  /// Tokens are ordered by falling count, ties by their UTF-8 bytes, so the order never depends
  /// on hashing.
  public func vocabulary(minCount: Int, unknownToken: String) throws(TrainingError) -> Vocabulary {
    var counts: [String: Int] = [:]
    for line in lines { for token in line { counts[token, default: 0] += 1 } }
    counts[unknownToken] = nil
    let kept = counts.filter { $0.value >= minCount }.sorted { l, r in
      l.value != r.value ? l.value > r.value : Array(l.key.utf8).lexicographicallyPrecedes(Array(r.key.utf8))
    }
    do {
      return try Vocabulary([unknownToken] + kept.map(\.key))
    } catch {
      throw .model(error)
    }
  }

  /// The token ids of each line; tokens outside the vocabulary become `unknownID`, or are
  /// counted in `unknown` when it is nil (and left out).
  public func encode(vocabulary: Vocabulary, unknownID: Int?) -> (lines: [[Int]], unknown: [String: Int]) {
    var unknown: [String: Int] = [:]
    let encoded = lines.map { line in
      line.compactMap { token -> Int? in
        if let id = vocabulary.id(of: token) { return id }
        unknown[token, default: 0] += 1
        return unknownID
      }
    }
    return (encoded, unknown)
  }
}
