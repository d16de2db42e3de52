import Foundation
import RNNFormat
import RNNModel

/// What can be wrong with a safetensors file, as one line: `file: part: reason`.
public struct SafetensorsError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var part: String
  public var reason: String
  public var description: String { displaySafe("\(path): \(part): \(reason)") }
}

/// safetensors files (the Hugging Face format): an 8-byte header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data.
///
/// RNNKit writes W, b, V and c, and puts everything else the model needs in `__metadata__` (which
/// holds strings only): the `.rnn` metadata keys, with booleans as `true`/`false`, and the
/// vocabulary as a JSON array under `rnnkit.vocabulary`. Files from elsewhere that hold W, b, V and
/// c read too, with the activations and vocabulary from the command-line flags.
public struct SafetensorsFormat: ModelFileFormat {
  public init() {}
  public var name: String { "safetensors" }
  public var extensions: [String] { [".safetensors"] }

  /// The largest header accepted (the reference implementation's own limit is 100 MB).
  static let maxHeaderBytes = 100_000_000
  /// Deeper JSON nesting than this is rejected while parsing (a valid header nests 3 levels).
  static let maxNesting = 16
  static let vocabularyKey = "rnnkit.vocabulary"

  public func sniff(path: String, prefix: [UInt8]) -> Bool {
    guard prefix.count >= 9 else { return false }
    let length = prefix[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
    return length >= 2 && length <= UInt64(Self.maxHeaderBytes) && prefix[8] == UInt8(ascii: "{")
  }

  // MARK: Reading

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    func fail(_ part: String, _ reason: String) -> SafetensorsError {
      SafetensorsError(path: path, part: part, reason: reason)
    }
    let storage: ByteStorage
    do {
      storage = try ByteStorage(mapping: path)
    } catch {
      throw fail("file", error.description)
    }
    let bytes = storage.bytes
    guard bytes.count >= 8 else {
      throw fail("header length", "the file has \(bytes.count) bytes, fewer than 8")
    }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    guard declared <= UInt64(Self.maxHeaderBytes) else {
      throw fail("header length", "is \(declared), over the limit of \(Self.maxHeaderBytes)")
    }
    let headerLength = Int(declared)
    guard headerLength <= bytes.count - 8 else {
      throw fail("header", "needs \(headerLength) bytes, only \(bytes.count - 8) available")
    }
    let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
    // As the reference implementation reads it: UTF-8 JSON, integers exact (usize).
    let header: JSONValue
    do {
      header = try JSONParser.parse(headerBytes, maxDepth: Self.maxNesting)
    } catch {
      throw fail("header", "is not valid JSON: \(error)")
    }
    guard let object = header.object else { throw fail("header", "is not a JSON object") }
    let dataStart = 8 + headerLength
    let dataLength = bytes.count - dataStart

    var metadata: [String: String] = [:]
    var entries: [String: (dtype: DType, shape: [Int], begin: Int, end: Int)] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        if value.isNull { continue }
        guard let members = value.object else { throw fail("__metadata__", "must map strings to strings") }
        for (key, item) in members {
          guard let text = item.string else {
            throw fail("__metadata__", "\"\(key)\" is not a string; metadata maps strings to strings")
          }
          metadata[key] = text
        }
        continue
      }
      guard let dtypeName = value["dtype"]?.string, let shapeValues = value["shape"]?.array,
        let offsetValues = value["data_offsets"]?.array, offsetValues.count == 2
      else { throw fail("tensor \"\(name)\"", "needs dtype, shape and data_offsets [begin, end]") }
      guard let dtype = Self.dtype(dtypeName) else {
        throw fail("tensor \"\(name)\"", "dtype \(dtypeName) is not F32, F16, BF16 or F64")
      }
      guard shapeValues.count <= 8 else {
        throw fail("tensor \"\(name)\"", "rank \(shapeValues.count) is over 8")
      }
      var shape: [Int] = []
      var elements = 1
      for dim in shapeValues {
        guard let n = Self.integer(dim) else {
          throw fail("tensor \"\(name)\"", "shape has an entry that is not a non-negative integer")
        }
        let (product, overflow) = elements.multipliedReportingOverflow(by: n)
        guard !overflow else { throw fail("tensor \"\(name)\"", "shape \(Self.text(shapeValues)) overflows") }
        elements = product
        shape.append(n)
      }
      guard let begin = Self.integer(offsetValues[0]), let end = Self.integer(offsetValues[1]), begin <= end,
        end <= dataLength
      else {
        throw fail(
          "tensor \"\(name)\"",
          "data_offsets \(Self.text(offsetValues)) are not within the \(dataLength)-byte data")
      }
      let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
      guard !overflow, expected == end - begin else {
        throw fail("tensor \"\(name)\"", "has \(end - begin) bytes, expected \(elements) × \(dtype.size)")
      }
      entries[name] = (dtype, shape, begin, end)
    }
    // As the reference implementation requires: tensors cover the data exactly, without overlaps.
    var cursor = 0
    for (name, entry) in entries.sorted(by: { $0.value.begin < $1.value.begin }) {
      guard entry.begin == cursor else {
        throw fail(
          "tensor \"\(name)\"", entry.begin < cursor ? "overlaps another tensor" : "leaves a gap before it")
      }
      cursor = entry.end
    }
    guard cursor == dataLength else {
      throw fail("data", "\(dataLength - cursor) bytes after the last tensor")
    }

    func parameter(_ name: String) throws -> Parameter {
      guard let entry = entries[name] else { throw fail("tensor \"\(name)\"", "is required but missing") }
      let view = TensorView(
        entry: TensorEntry(
          name: name, dtype: DTypeCode(entry.dtype), shape: entry.shape, offset: dataStart + entry.begin,
          byteCount: entry.end - entry.begin, checksum: 0),
        storage: storage)
      // In place when aligned for the element type; otherwise a converted copy.
      if (dataStart + entry.begin) % entry.dtype.size == 0 { return try Parameter(view: view) }
      return Parameter(try view.floats(), shape: entry.shape, dtype: entry.dtype)
    }

    func activation<T>(_ key: String, _ override: T?, _ parse: (String) -> T?, flag: String) throws -> T {
      if let override { return override }
      guard let name = metadata[key] else {
        throw fail("__metadata__", "has no \(key); pass --\(flag)")
      }
      guard let value = parse(name) else { throw fail("__metadata__", "\(key) \"\(name)\" is not known") }
      return value
    }
    let f = try activation(
      Schema.hiddenActivation, options.hiddenActivation, HiddenActivation.init(name:),
      flag: "hidden-activation")
    let g = try activation(
      Schema.outputActivation, options.outputActivation, OutputActivation.init(name:),
      flag: "output-activation")

    var tokens: [String]?
    if let path = options.vocabularyPath {
      tokens = try readVocabularyFile(path)
    } else if let json = metadata[Self.vocabularyKey] {
      guard let items = (try? JSONParser.parse(json, maxDepth: 1))?.array,
        case let list = items.compactMap(\.string), list.count == items.count
      else {
        throw fail("__metadata__", "\(Self.vocabularyKey) is not a JSON array of strings")
      }
      tokens = list
    }
    let kind = tokens == nil ? InputKind.dense : .tokens
    var tokenizer = TokenizerSettings(unknownToken: nil)
    if let level = metadata[Schema.tokenizerLevel].flatMap(TokenizerSettings.Level.init(rawValue:)) {
      tokenizer.level = level
    }
    tokenizer.lowercase = metadata[Schema.tokenizerLowercase] == "true"
    tokenizer.splitPunctuation = metadata[Schema.tokenizerSplitPunctuation] == "true"
    tokenizer.unknownToken =
      metadata[Schema.tokenizerUnknownToken] ?? (tokens?.contains("<unk>") == true ? "<unk>" : nil)

    do {
      return try ElmanModel(
        W: parameter("W"), b: parameter("b"), V: parameter("V"), c: parameter("c"), hiddenActivation: f,
        outputActivation: g, inputKind: kind, vocabulary: tokens.map(Vocabulary.init), tokenizer: tokenizer,
        provenance: Provenance(
          name: metadata[Schema.name], description: metadata[Schema.description], sourceFormat: name,
          converterVersion: metadata[Schema.converterVersion], created: metadata[Schema.created]))
    } catch let error as ModelError {
      throw ModelFileError(path: path, error: error)
    }
  }

  static func dtype(_ name: String) -> DType? {
    switch name {
    case "F32": return .f32
    case "F16": return .f16
    case "BF16": return .bf16
    case "F64": return .f64
    default: return nil
    }
  }

  /// A non-negative integer written as one (no fraction, no exponent), exactly.
  static func integer(_ value: JSONValue) -> Int? {
    guard let int = value.integer, int >= 0 else { return nil }
    return int
  }

  /// A list of JSON numbers as written, for messages.
  static func text(_ values: [JSONValue]) -> String {
    "["
      + values.map { value in
        if case .number(let text) = value { return text }
        return value.string.map { "\"\($0)\"" } ?? "…"
      }.joined(separator: ", ") + "]"
  }

  // MARK: Writing

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    do { try model.checkWritable() } catch {
      throw SafetensorsError(path: path, part: "model", reason: error.description)
    }
    let dtype = options.dtype ?? .f32
    let names = ["W", "b", "V", "c"]
    let parameters = [model.W, model.b, model.V, model.c]
    var header: [String: Any] = [:]
    var offset = 0
    for (name, parameter) in zip(names, parameters) {
      let length = parameter.count * dtype.size
      header[name] = [
        "dtype": dtype == .bf16 ? "BF16" : dtype.description.uppercased(), "shape": parameter.shape,
        "data_offsets": [offset, offset + length],
      ]
      offset += length
    }
    var metadata: [String: String] = [:]
    for (key, value) in model.containerMetadata {
      switch value {
      case .string(let s): metadata[key] = s
      case .bool(let b): metadata[key] = b ? "true" : "false"
      case .int(let i): metadata[key] = String(i)
      case .float(let d): metadata[key] = String(d)
      default: continue
      }
    }
    if let vocabulary = model.vocabulary {
      let json = try JSONSerialization.data(withJSONObject: vocabulary.tokens)
      metadata[Self.vocabularyKey] = String(decoding: json, as: UTF8.self)
    }
    header["__metadata__"] = metadata
    var headerBytes = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
    // Readers (this one and the reference implementation) refuse larger headers.
    guard headerBytes.count + 7 <= Self.maxHeaderBytes else {
      throw SafetensorsError(
        path: path, part: "header",
        reason:
          "would be \(headerBytes.count) bytes, over the limit of \(Self.maxHeaderBytes) that readers accept")
    }
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
    var prefix = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { [UInt8]($0) }
    prefix += headerBytes
    let payload = zip(names, parameters).map { name, parameter in
      TensorSource(name: name, dtype: dtype, shape: parameter.shape, payload: .floats(parameter.floats()))
    }
    do {
      try ContainerWriter.writeRaw(prefix: prefix, tensors: payload, to: path, overwrite: options.overwrite)
    } catch {
      if case .destinationExists = error.error {
        throw SafetensorsError(
          path: path, part: "output", reason: "already exists; pass --force to replace it")
      }
      throw error
    }
  }
}
