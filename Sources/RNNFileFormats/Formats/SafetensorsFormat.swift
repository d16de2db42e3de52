import Foundation
import RNNFormat
import RNNModel

/// What can be wrong with a safetensors file, as one line: `file: part: reason`.
public struct SafetensorsError: Error, Sendable, CustomStringConvertible, ModelInputRequest {
  /// The file.
  public var path: String
  /// The header field or tensor at fault.
  public var part: String
  /// Why, in words.
  public var reason: String
  /// What the caller can supply to get past this error, if anything.
  public var requestedInput: ModelInput?
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
  /// Creates the format.
  public init() {}
  public var name: String { "safetensors" }
  public var summary: String { "safetensors (Hugging Face): W, b, V, c, with the rest in __metadata__" }
  public var extensions: [String] { [".safetensors"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .bf16, .f64] }
  public var readIsolation: ReadIsolation { .inProcess }

  /// The largest header accepted (the reference implementation's own limit is 100 MB).
  static let maxHeaderBytes = 100_000_000
  /// Deeper JSON nesting than this is rejected before parsing, so a hostile header cannot exhaust the stack.
  static let maxNesting = 16
  static let vocabularyKey = "rnnkit.vocabulary"

  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
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
    guard Self.nestingDepth(headerBytes) <= Self.maxNesting else {
      throw fail("header", "JSON nests deeper than \(Self.maxNesting) levels")
    }
    guard let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
      throw fail("header", "is not a JSON object")
    }
    let dataStart = 8 + headerLength
    let dataLength = bytes.count - dataStart

    var metadata: [String: String] = [:]
    var entries: [String: (dtype: DType, shape: [Int], begin: Int, end: Int)] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        guard let strings = value as? [String: String] else {
          throw fail("__metadata__", "must map strings to strings")
        }
        metadata = strings
        continue
      }
      guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
        let shapeValues = info["shape"] as? [Any], let offsetValues = info["data_offsets"] as? [Any],
        offsetValues.count == 2
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
          throw fail("tensor \"\(name)\"", "shape has a non-integer entry")
        }
        let (product, overflow) = elements.multipliedReportingOverflow(by: n)
        guard !overflow else { throw fail("tensor \"\(name)\"", "shape \(shapeValues) overflows") }
        elements = product
        shape.append(n)
      }
      guard let begin = Self.integer(offsetValues[0]), let end = Self.integer(offsetValues[1]), begin <= end,
        end <= dataLength
      else {
        throw fail(
          "tensor \"\(name)\"", "data_offsets \(offsetValues) are not within the \(dataLength)-byte data")
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

    func activation<T>(
      _ key: String, _ override: T?, _ parse: (String) -> T?, input: ModelInput, standIn: T
    ) throws -> T {
      if let override { return override }
      guard let name = metadata[key] else {
        if options.standIns { return standIn }
        var error = fail("__metadata__", "has no \(key)")
        error.requestedInput = input
        throw error
      }
      guard let value = parse(name) else { throw fail("__metadata__", "\(key) \"\(name)\" is not known") }
      return value
    }
    let f = try activation(
      Schema.hiddenActivation, options.hiddenActivation, HiddenActivation.init(name:),
      input: .hiddenActivation, standIn: HiddenActivation.tanh)
    let g = try activation(
      Schema.outputActivation, options.outputActivation, OutputActivation.init(name:),
      input: .outputActivation, standIn: OutputActivation.softmax)

    var tokens: [String]?
    if let supplied = try options.suppliedVocabulary() {
      tokens = supplied
    } else if let json = metadata[Self.vocabularyKey] {
      guard let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] else {
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
    tokenizer.endOfSequence = metadata[Schema.tokenizerEndOfSequence]

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

  static func integer(_ value: Any) -> Int? {
    guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int >= 0 else {
      return nil
    }
    return int
  }

  /// The deepest nesting of `[` and `{` outside strings.
  static func nestingDepth(_ bytes: UnsafeRawBufferPointer) -> Int {
    var depth = 0
    var deepest = 0
    var inString = false
    var escaped = false
    for byte in bytes {
      if inString {
        if escaped {
          escaped = false
        } else if byte == UInt8(ascii: "\\") {
          escaped = true
        } else if byte == UInt8(ascii: "\"") {
          inString = false
        }
        continue
      }
      switch byte {
      case UInt8(ascii: "\""): inString = true
      case UInt8(ascii: "["), UInt8(ascii: "{"):
        depth += 1
        deepest = max(deepest, depth)
      case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
      default: break
      }
    }
    return deepest
  }

  // MARK: Writing

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
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
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
    var prefix = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { [UInt8]($0) }
    prefix += headerBytes
    let payload = zip(names, parameters).map { name, parameter in
      TensorSource(name: name, dtype: dtype, shape: parameter.shape, payload: .floats(parameter.floats()))
    }
    try RawFileWriter.write(prefix: prefix, tensors: payload, to: path, overwrite: options.overwrite)
  }
}

/// Writes a header followed by the tensors, packed, atomically.
enum RawFileWriter {
  static func write(prefix: [UInt8], tensors: [TensorSource], to path: String, overwrite: Bool) throws {
    do {
      try AtomicFile.write(to: path, overwrite: overwrite) { temporary in
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
          let handle = FileHandle(forWritingAtPath: temporary)
        else {
          throw SafetensorsError(path: path, part: "output", reason: "cannot create a file in its folder")
        }
        defer { try? handle.close() }
        try handle.write(contentsOf: prefix)
        for tensor in tensors {
          guard case .floats(let values) = tensor.payload, let dtype = tensor.dtype.known else { continue }
          try handle.write(contentsOf: values.withUnsafeBufferPointer { FloatCodec.encode($0, as: dtype) })
        }
      }
    } catch FormatError.destinationExists {
      throw SafetensorsError(
        path: path, part: "output", reason: "already exists", requestedInput: .overwrite)
    }
  }
}
