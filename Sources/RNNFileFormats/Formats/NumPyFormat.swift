import Foundation
import RNNFormat
import RNNModel

/// NumPy archives (`.npz`, docs/NUMPY.md): a zip of `.npy` arrays, as `numpy.savez` and
/// `numpy.savez_compressed` write them and `numpy.load(path, allow_pickle=False)` reads them.
///
/// RNNKit writes `W`, `b`, `V` and `c` as float arrays, the vocabulary as a `<U` string array
/// `vocab` (or, when that cannot hold it compactly and exactly, as `vocab_offsets` `<i8` plus
/// `vocab_bytes` `|u1`, UTF-8), and everything else the model needs as a JSON object in the 0-d
/// `<U` array `metadata`, keyed as the `.rnn` metadata is. Nothing is pickled; object arrays are
/// refused. Archives from elsewhere that hold W, b, V and c read too, with the activations and the
/// vocabulary supplied by the caller; a vocabulary makes the model a token model.
public struct NumPyFormat: ModelFileFormat {
  /// Creates the format.
  public init() {}
  public var name: String { "npz" }
  public var summary: String {
    "NumPy archives (.npz): W, b, V, c, the vocabulary and JSON metadata, no pickle"
  }
  public var extensions: [String] { [".npz"] }
  public var capabilities: FormatCapabilities { [.read, .write, .storesVocabulary, .storesActivations] }
  public var writableDTypes: [DType] { [.f32, .f16, .f64] }
  public var readIsolation: ReadIsolation { .inProcess }

  /// The entry names, without `.npy`.
  static let vocabularyKey = "vocab"
  static let offsetsKey = "vocab_offsets"
  static let bytesKey = "vocab_bytes"
  static let metadataKey = "metadata"
  /// The largest metadata entry accepted, in bytes.
  static let maxMetadataBytes = 16 << 20
  /// The largest `<U` vocabulary written; past it the vocabulary is stored as UTF-8 with offsets.
  static let maxUnicodeVocabularyBytes = 64 << 20

  /// A zip whose first entry is a `.npy` array: `numpy.savez` writes nothing else.
  public func recognizes(path: String, prefix: [UInt8]) -> Bool {
    guard prefix.count >= 30, prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) else { return false }
    let nameLength = Int(prefix[26]) | Int(prefix[27]) << 8
    guard nameLength >= 5, 30 + nameLength <= prefix.count else { return false }
    return prefix[(30 + nameLength - 4)..<(30 + nameLength)].elementsEqual(".npy".utf8)
  }

  // MARK: Reading

  public func read(path: String, options: ImportOptions) throws -> ElmanModel {
    func fail(_ part: String, _ reason: String, _ input: ModelInput? = nil) -> NumPyError {
      NumPyError(path: path, part: part, reason: reason, requestedInput: input)
    }
    let archive: ZipArchive
    do {
      archive = try ZipArchive(mapping: path)
    } catch let error as ZipError {
      throw fail(error.part, error.reason)
    }

    /// The array stored as `key.npy`, parsed, or nil when there is none.
    func array(_ key: String) throws -> (header: NpyHeader, content: ZipContent)? {
      let entryName = key + ".npy"
      guard let entry = archive.entry(named: entryName) else { return nil }
      do {
        let content = try archive.content(of: entry)
        return (try NpyHeader.parse(content.bytes), content)
      } catch let error as ZipError {
        throw fail(error.part, error.reason)
      } catch let error as NpyError {
        throw fail("\(entryName): \(error.part)", error.reason)
      }
    }

    func parameter(_ key: String) throws -> Parameter {
      guard let (header, content) = try array(key) else {
        throw fail("\(key).npy", "is required but missing")
      }
      guard case .float(let dtype) = header.element else {
        throw fail("\(key).npy: descr", "'\(header.descr)' is not a float dtype (<f2, <f4 or <f8)")
      }
      let start = content.range.lowerBound + header.dataOffset
      let inPlace = !header.bigEndian && (!header.fortranOrder || header.shape.filter { $0 > 1 }.count < 2)
      // In place when stored, little-endian, row-major and aligned; otherwise a canonical copy.
      let (storage, offset) =
        inPlace && start % dtype.size == 0
        ? (content.storage, start)
        : (ByteStorage(copying: NpyCodec.canonicalData(content.bytes, header: header)), 0)
      let view = TensorView(
        entry: TensorEntry(
          name: key, dtype: DTypeCode(dtype), shape: header.shape, offset: offset,
          byteCount: header.dataByteCount, checksum: 0),
        storage: storage)
      return try Parameter(view: view)
    }

    // The arrays first: what is wrong with the file comes before what the caller might supply.
    let W = try parameter("W")
    let b = try parameter("b")
    let V = try parameter("V")
    let c = try parameter("c")
    let metadata = try readMetadata(array(Self.metadataKey), fail: fail)
    var tokens: [String]? = try options.suppliedVocabulary()
    if tokens == nil { tokens = try readVocabulary(array: array, fail: fail) }
    if metadata.strings[Schema.inputKind] == InputKind.tokens.rawValue && tokens == nil {
      throw fail(
        "\(Self.metadataKey).npy", "describes a token model but the archive has no vocabulary", .vocabulary)
    }
    if let architecture = metadata.strings[Schema.architecture], architecture != "elman" {
      throw fail("\(Self.metadataKey).npy", "\(Schema.architecture) is \"\(architecture)\", not \"elman\"")
    }

    func activation<T>(_ key: String, _ override: T?, _ parse: (String) -> T?, input: ModelInput) throws -> T
    {
      if let override { return override }
      guard let name = metadata.strings[key] else {
        throw metadata.isStored
          ? fail("\(Self.metadataKey).npy", "has no \(key)", input)
          : fail("archive", "has no \(Self.metadataKey).npy to give \(key)", input)
      }
      guard let value = parse(name) else {
        throw fail("\(Self.metadataKey).npy", "\(key) \"\(name)\" is not known")
      }
      return value
    }
    let f = try activation(
      Schema.hiddenActivation, options.hiddenActivation, HiddenActivation.init(name:),
      input: .hiddenActivation)
    let g = try activation(
      Schema.outputActivation, options.outputActivation, OutputActivation.init(name:),
      input: .outputActivation)

    var tokenizer = TokenizerSettings(
      level: .word, lowercase: false, splitPunctuation: false, unknownToken: nil)
    if let levelName = metadata.strings[Schema.tokenizerLevel] {
      guard let level = TokenizerSettings.Level(rawValue: levelName) else {
        throw fail("\(Self.metadataKey).npy", "\(Schema.tokenizerLevel) \"\(levelName)\" is not word or char")
      }
      tokenizer.level = level
    }
    tokenizer.lowercase = metadata.bools[Schema.tokenizerLowercase] ?? false
    tokenizer.splitPunctuation = metadata.bools[Schema.tokenizerSplitPunctuation] ?? false
    tokenizer.unknownToken =
      metadata.strings[Schema.tokenizerUnknownToken] ?? (tokens?.contains("<unk>") == true ? "<unk>" : nil)
    tokenizer.endOfSequence = metadata.strings[Schema.tokenizerEndOfSequence]

    do {
      return try ElmanModel(
        W: W, b: b, V: V, c: c, hiddenActivation: f,
        outputActivation: g, inputKind: tokens == nil ? .dense : .tokens,
        vocabulary: tokens.map(Vocabulary.init),
        tokenizer: tokenizer,
        provenance: Provenance(
          name: metadata.strings[Schema.name], description: metadata.strings[Schema.description],
          sourceFormat: name, converterVersion: metadata.strings[Schema.converterVersion],
          created: metadata.strings[Schema.created]),
        extraMetadata: metadata.extra)
    } catch {
      throw ModelFileError(path: path, error: error)
    }
  }

  /// The metadata entry's values, by type, and the keys the schema does not interpret.
  struct StoredMetadata {
    /// Whether the archive has a metadata entry at all.
    var isStored = false
    var strings: [String: String] = [:]
    var bools: [String: Bool] = [:]
    var extra = Metadata()
  }

  /// One JSON value of the metadata object.
  enum JSONValue: Decodable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case strings([String])

    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let value = try? container.decode(Bool.self) {
        self = .bool(value)
      } else if let value = try? container.decode(Int64.self) {
        self = .int(value)
      } else if let value = try? container.decode(Double.self) {
        self = .float(value)
      } else if let value = try? container.decode(String.self) {
        self = .string(value)
      } else {
        self = .strings(try container.decode([String].self))
      }
    }
  }

  /// Keys whose values must be booleans; every other key the schema knows is a string.
  static let booleanKeys: Set<String> = [Schema.tokenizerLowercase, Schema.tokenizerSplitPunctuation]

  func readMetadata(
    _ stored: (header: NpyHeader, content: ZipContent)?, fail: (String, String, ModelInput?) -> NumPyError
  ) throws -> StoredMetadata {
    guard let (header, content) = stored else { return StoredMetadata() }
    let part = "\(Self.metadataKey).npy"
    guard header.dataByteCount <= Self.maxMetadataBytes else {
      throw fail(part, "has \(header.dataByteCount) bytes, over the limit of \(Self.maxMetadataBytes)", nil)
    }
    let text: String
    switch header.element {
    case .unicode where header.elementCount == 1:
      let strings: [String]
      do { strings = try NpyCodec.strings(content.bytes, header: header) } catch {
        throw fail("\(part): \(error.part)", error.reason, nil)
      }
      text = strings[0]
    case .unsigned(1) where header.shape.count == 1:
      let raw = UnsafeRawBufferPointer(
        rebasing: content.bytes[header.dataOffset..<(header.dataOffset + header.dataByteCount)])
      guard let decoded = decodeUTF8(raw) else { throw fail(part, "is not valid UTF-8", nil) }
      text = decoded
    default:
      throw fail(
        part, "must be one <U string or a 1-D |u1 array of UTF-8, not \(header.descr) \(header.shape)", nil)
    }
    let json = Data(text.utf8)
    // Strict JSON (UTF-8, exact numbers) nested at most 2 deep, before the typed decoding.
    let strict = json.withUnsafeBytes { (try? JSONParser.parse($0, maxDepth: 2)) != nil }
    guard strict, let object = try? JSONDecoder().decode([String: JSONValue].self, from: json) else {
      throw fail(part, "is not a JSON object of strings, numbers, booleans and lists of strings", nil)
    }
    var metadata = StoredMetadata(isStored: true)
    for (key, value) in object.sorted(by: { $0.key < $1.key }) {
      let known = Schema.knownKeys.contains(key)
      switch value {
      case .string(let s) where known && !Self.booleanKeys.contains(key): metadata.strings[key] = s
      case .bool(let b) where Self.booleanKeys.contains(key): metadata.bools[key] = b
      case _ where known:
        throw fail(part, "\(key) must be a \(Self.booleanKeys.contains(key) ? "boolean" : "string")", nil)
      case .string(let s): metadata.extra[key] = .string(s)
      case .bool(let b): metadata.extra[key] = .bool(b)
      case .int(let i): metadata.extra[key] = .int(i)
      case .float(let d): metadata.extra[key] = .float(d)
      case .strings(let list): metadata.extra[key] = .stringArray(list)
      }
    }
    return metadata
  }

  func readVocabulary(
    array: (String) throws -> (header: NpyHeader, content: ZipContent)?,
    fail: (String, String, ModelInput?) -> NumPyError
  ) throws -> [String]? {
    let unicode = try array(Self.vocabularyKey)
    let offsets = try array(Self.offsetsKey)
    let blob = try array(Self.bytesKey)
    if let (header, content) = unicode {
      guard offsets == nil && blob == nil else {
        throw fail(
          "\(Self.vocabularyKey).npy",
          "the archive also has \(Self.offsetsKey) or \(Self.bytesKey); keep one form",
          nil)
      }
      guard case .unicode = header.element, header.shape.count == 1 else {
        throw fail(
          "\(Self.vocabularyKey).npy", "must be a 1-D <U string array, not \(header.descr) \(header.shape)",
          nil)
      }
      do { return try NpyCodec.strings(content.bytes, header: header) } catch {
        throw fail("\(Self.vocabularyKey).npy: \(error.part)", error.reason, nil)
      }
    }
    switch (offsets, blob) {
    case (nil, nil): return nil
    case (let offsets?, let blob?):
      let offsetsPart = "\(Self.offsetsKey).npy"
      let bytesPart = "\(Self.bytesKey).npy"
      guard header(offsets.header, isIntegerVector: true) else {
        throw fail(
          offsetsPart, "must be a 1-D integer array, not \(offsets.header.descr) \(offsets.header.shape)", nil
        )
      }
      guard blob.header.element == .unsigned(bytes: 1), blob.header.shape.count == 1 else {
        throw fail(bytesPart, "must be a 1-D |u1 array, not \(blob.header.descr) \(blob.header.shape)", nil)
      }
      let bounds: [Int]
      do { bounds = try NpyCodec.integers(offsets.content.bytes, header: offsets.header) } catch {
        throw fail("\(offsetsPart): \(error.part)", error.reason, nil)
      }
      let raw = UnsafeRawBufferPointer(
        rebasing: blob.content.bytes[
          blob.header.dataOffset..<(blob.header.dataOffset + blob.header.dataByteCount)])
      guard bounds.count >= 2, bounds[0] == 0, bounds[bounds.count - 1] == raw.count else {
        throw fail(
          offsetsPart,
          "must run from 0 to \(raw.count), the size of \(Self.bytesKey), with an entry per token and one more",
          nil)
      }
      var tokens: [String] = []
      tokens.reserveCapacity(bounds.count - 1)
      for i in 0..<(bounds.count - 1) {
        guard bounds[i] < bounds[i + 1], bounds[i + 1] <= raw.count else {
          throw fail(offsetsPart, "token \(i) is empty or its offsets decrease", nil)
        }
        guard let token = decodeUTF8(UnsafeRawBufferPointer(rebasing: raw[bounds[i]..<bounds[i + 1]])) else {
          throw fail(bytesPart, "token \(i) is not valid UTF-8", nil)
        }
        tokens.append(token)
      }
      return tokens
    default:
      throw fail(
        offsets == nil ? "\(Self.bytesKey).npy" : "\(Self.offsetsKey).npy",
        "needs \(offsets == nil ? Self.offsetsKey : Self.bytesKey) beside it", nil)
    }
  }

  private func header(_ header: NpyHeader, isIntegerVector: Bool) -> Bool {
    guard header.shape.count == 1 else { return false }
    switch header.element {
    case .signed, .unsigned: return true
    default: return false
    }
  }

  // MARK: Writing

  public func write(_ model: ElmanModel, to path: String, options: ExportOptions) throws {
    try model.checkWritable(to: path)
    // Each entry's bytes, or its .npy header and the stored tensor that follows it, which is
    // written from its storage, never copied.
    var entries: [(key: String, bytes: [UInt8], view: TensorView?)] = []
    for (key, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      let dtype = options.dtype ?? (writableDTypes.contains(parameter.dtype) ? parameter.dtype : .f32)
      guard let descr = NpyCodec.descr(dtype) else {
        throw NumPyError(
          path: path, part: "\(key).npy", reason: "NumPy has no \(dtype) dtype; use f32, f16 or f64")
      }
      var bytes = NpyCodec.header(descr: descr, shape: parameter.shape)
      if let view = parameter.view, view.dtype.known == dtype {
        // The stored bytes as they are: exact for every dtype (verified first if still pending).
        try view.verify()
        entries.append((key, bytes, view))
      } else {
        bytes += parameter.withFloats { FloatCodec.encode($0, as: dtype) }
        entries.append((key, bytes, nil))
      }
    }
    if let tokens = model.vocabulary?.tokens {
      let longest = tokens.map(\.unicodeScalars.count).max() ?? 1
      let (unicodeBytes, overflow) = longest.multipliedReportingOverflow(by: 4 * tokens.count)
      // NumPy strips trailing NULs from `<U` strings, so such tokens need the UTF-8 form.
      if !overflow && unicodeBytes <= Self.maxUnicodeVocabularyBytes
        && !tokens.contains(where: { $0.hasSuffix("\u{0}") })
      {
        entries.append((Self.vocabularyKey, NpyCodec.encode(strings: tokens, shape: [tokens.count]), nil))
      } else {
        var blob: [UInt8] = []
        var offsets = [0]
        for token in tokens {
          blob += token.utf8
          offsets.append(blob.count)
        }
        entries.append((Self.offsetsKey, NpyCodec.encode(int64s: offsets), nil))
        entries.append((Self.bytesKey, NpyCodec.encode(bytes: blob), nil))
      }
    }
    entries.append((Self.metadataKey, NpyCodec.encode(strings: [try metadataJSON(model)], shape: []), nil))

    do {
      try AtomicFile.write(to: path, overwrite: options.overwrite) { emit in
        var writer = ZipWriter { bytes in try bytes.withUnsafeBytes { try emit($0) } }
        // Stored, with each array's data 64-byte aligned (the .npy header is a multiple of 64), so
        // the arrays can be mapped in place.
        for (key, bytes, view) in entries {
          guard let view else {
            try writer.addStored(name: key + ".npy", contents: bytes, alignment: 64)
            continue
          }
          try withExtendedLifetime(view.storage) {
            try bytes.withUnsafeBytes { header in
              try writer.addStored(name: key + ".npy", parts: [header, view.bytes], alignment: 64)
            }
          }
        }
        try writer.finish()
      }
    } catch FormatError.destinationExists {
      throw NumPyError(path: path, part: "output", reason: "already exists", requestedInput: .overwrite)
    }
  }

  /// The model's metadata as one JSON object: the `.rnn` keys in schema order, then the others.
  func metadataJSON(_ model: ElmanModel) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    func json<T: Encodable>(_ value: T) throws -> String {
      String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    var fields: [String] = []
    for (key, value) in model.containerMetadata {
      let text: String
      switch value {
      case .string(let s): text = try json(s)
      case .bool(let b): text = b ? "true" : "false"
      case .int(let i): text = String(i)
      case .float(let d) where d.isFinite: text = try json(d)
      case .stringArray(let list): text = try json(list)
      default: continue
      }
      fields.append("\(try json(key)): \(text)")
    }
    return "{" + fields.joined(separator: ", ") + "}"
  }
}
