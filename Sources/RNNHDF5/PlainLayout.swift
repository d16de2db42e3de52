import RNNFormat
import RNNModel

/// The plain HDF5 layout (docs/HDF5.md): datasets `/W`, `/b`, `/V`, `/c` and, for token models,
/// `/vocab`, with the activations and the other metadata as root attributes.
public enum PlainHDF5 {
  /// The format name used by `--from` and `--to`.
  public static let formatName = "hdf5"

  /// Root attribute names of the layout, in the order they are written.
  enum Key {
    static let hiddenActivation = "hidden_activation"
    static let outputActivation = "output_activation"
    static let inputKind = "input_kind"
    static let tokenizerLevel = "tokenizer_level"
    static let tokenizerLowercase = "tokenizer_lowercase"
    static let tokenizerSplitPunctuation = "tokenizer_split_punctuation"
    static let tokenizerUnknownToken = "tokenizer_unknown_token"
    static let tokenizerEndOfSequence = "tokenizer_end_of_sequence"
    static let name = "name"
    static let description = "description"
    static let sourceFormat = "source_format"
    static let converterVersion = "converter_version"
    static let created = "created"
    static let all: Set<String> = [
      hiddenActivation, outputActivation, inputKind, tokenizerLevel, tokenizerLowercase,
      tokenizerSplitPunctuation, tokenizerUnknownToken, tokenizerEndOfSequence, name, description,
      sourceFormat, converterVersion,
      created,
    ]
  }

  /// Reads a model in the plain layout. `hiddenActivation` and `outputActivation` override the
  /// stored activations; `vocabulary` replaces the stored one.
  public static func read(
    path: String, hiddenActivation: HiddenActivation? = nil, outputActivation: OutputActivation? = nil,
    vocabulary override: [String]? = nil
  ) throws(HDF5Error) -> ElmanModel {
    try HDF5File.withFile(path: path) { reader throws(HDF5Error) in
      try read(
        reader, hiddenActivation: hiddenActivation, outputActivation: outputActivation, vocabulary: override)
    }
  }

  static func read(
    _ reader: H5Reader, hiddenActivation: HiddenActivation?, outputActivation: OutputActivation?,
    vocabulary override: [String]?
  ) throws(HDF5Error) -> ElmanModel {
    let b = try reader.parameter(reader.dataset("b"), expected: [nil], describe: "[H]")
    let h = b.shape[0]
    let c = try reader.parameter(reader.dataset("c"), expected: [nil], describe: "[O]")
    let o = c.shape[0]
    let w = try reader.parameter(
      reader.dataset("W"), expected: [h, nil], describe: "[\(h), \(h)+X] (H = \(h) from /b)")
    guard w.shape[1] > h else {
      throw reader.fail(
        "/W", .wrongShape(found: w.shape, expected: "[\(h), \(h)+X] with X > 0 (H = \(h) from /b)"))
    }
    let v = try reader.parameter(
      reader.dataset("V"), expected: [o, h], describe: "[\(o), \(h)] (O from /c, H from /b)")
    let x = w.shape[1] - h

    func string(_ key: String) throws(HDF5Error) -> String? { try reader.stringAttribute(key) }

    let f: HiddenActivation
    if let hiddenActivation {
      f = hiddenActivation
    } else {
      guard let name = try string(Key.hiddenActivation) else {
        throw reader.fail(
          "attribute \"\(Key.hiddenActivation)\"", .needsInput(.hiddenActivation, "is missing"))
      }
      guard let value = HiddenActivation(name: name) else {
        throw reader.fail(
          "attribute \"\(Key.hiddenActivation)\"",
          .invalid(
            "\"\(name)\" is not a known activation (known: \(HiddenActivation.allCases.map(\.rawValue).joined(separator: ", ")))"
          ))
      }
      f = value
    }
    let g: OutputActivation
    if let outputActivation {
      g = outputActivation
    } else {
      guard let name = try string(Key.outputActivation) else {
        throw reader.fail(
          "attribute \"\(Key.outputActivation)\"", .needsInput(.outputActivation, "is missing"))
      }
      guard let value = OutputActivation(name: name) else {
        throw reader.fail(
          "attribute \"\(Key.outputActivation)\"",
          .invalid(
            "\"\(name)\" is not a known activation (known: \(OutputActivation.allCases.map(\.rawValue).joined(separator: ", ")))"
          ))
      }
      g = value
    }

    var tokens = override
    if tokens == nil, reader.exists("vocab") { tokens = try reader.strings(reader.dataset("vocab")) }
    let kind: InputKind
    if let name = try string(Key.inputKind) {
      guard let value = InputKind(rawValue: name) else {
        throw reader.fail("attribute \"\(Key.inputKind)\"", .invalid("\"\(name)\" is not tokens or dense"))
      }
      kind = value
    } else {
      kind = tokens == nil ? .dense : .tokens
    }

    var tokenizer = TokenizerSettings()
    var vocabulary: Vocabulary?
    if kind == .tokens {
      guard let tokens else {
        throw reader.fail("/vocab", .needsInput(.vocabulary, "is missing for a token model"))
      }
      guard tokens.count == x else {
        throw reader.fail(
          override == nil ? "/vocab" : nil,
          .invalid("the vocabulary has \(tokens.count) tokens but the input size X is \(x) (from /W)"))
      }
      if let level = try string(Key.tokenizerLevel) {
        guard let value = TokenizerSettings.Level(rawValue: level) else {
          throw reader.fail(
            "attribute \"\(Key.tokenizerLevel)\"", .invalid("\"\(level)\" is not word or char"))
        }
        tokenizer.level = value
      }
      if let value = try bool(reader, Key.tokenizerLowercase) { tokenizer.lowercase = value }
      if let value = try bool(reader, Key.tokenizerSplitPunctuation) { tokenizer.splitPunctuation = value }
      do {
        vocabulary = try Vocabulary(tokens)
      } catch {
        throw reader.fail("/vocab", .invalid("\(error)"))
      }
      if reader.root.hasAttribute(Key.tokenizerUnknownToken) {
        tokenizer.unknownToken = try string(Key.tokenizerUnknownToken)
      } else if vocabulary?.id(of: "<unk>") == nil {
        tokenizer.unknownToken = nil
      }
      if reader.root.hasAttribute(Key.tokenizerEndOfSequence) {
        tokenizer.endOfSequence = try string(Key.tokenizerEndOfSequence)
      }
    }

    let provenance = Provenance(
      name: try string(Key.name), description: try string(Key.description), sourceFormat: formatName,
      converterVersion: try string(Key.converterVersion), created: try string(Key.created))
    let extra = try extraMetadata(reader)

    do {
      return try ElmanModel(
        W: w, b: b, V: v, c: c,
        hiddenActivation: f, outputActivation: g, inputKind: kind, vocabulary: vocabulary,
        tokenizer: tokenizer,
        provenance: provenance, extraMetadata: extra)
    } catch {
      throw reader.fail(nil, .invalid("\(error)"))
    }
  }

  static func bool(_ reader: H5Reader, _ key: String) throws(HDF5Error) -> Bool? {
    guard reader.root.hasAttribute(key) else { return nil }
    do {
      let attribute = try reader.root.attribute(key, limit: reader.fileSize)
      switch try attribute.elementType() {
      case .enumeration(1), .integer(1, _): return try attribute.int8() != 0
      case .integer: return try attribute.int64() != 0
      case .variableString, .fixedString:
        let text = try attribute.strings().first ?? ""
        guard let value = Bool(text.lowercased()) else {
          throw reader.fail("attribute \"\(key)\"", .invalid("\"\(text)\" is not true or false"))
        }
        return value
      case let other:
        throw reader.fail("attribute \"\(key)\"", .unsupportedType(found: other.name, expected: "a boolean"))
      }
    } catch let failure as H5Failure {
      throw failure.error(path: reader.path, part: "attribute \"\(key)\"")
    } catch let error as HDF5Error {
      throw error
    } catch {
      throw reader.fail("attribute \"\(key)\"", .invalid("\(error)"))
    }
  }

  /// Root attributes the layout does not define, kept as metadata for round trips.
  static func extraMetadata(_ reader: H5Reader) throws(HDF5Error) -> Metadata {
    var meta = Metadata()
    let names: [String]
    do { names = try reader.root.attributeNames() } catch {
      throw hdf5Error(error, path: reader.path, part: "/")
    }
    for name in names where !Key.all.contains(name) {
      do {
        let attribute = try reader.root.attribute(name, limit: reader.fileSize)
        let count = try attribute.elementCount()
        switch try attribute.elementType() {
        case .variableString, .fixedString:
          let strings = try attribute.strings()
          meta[name] = count == 1 && strings.count == 1 ? .string(strings[0]) : .stringArray(strings)
        case .enumeration(1) where count == 1: meta[name] = .bool(try attribute.int8() != 0)
        case .integer where count == 1: meta[name] = .int(try attribute.int64())
        case .float where count == 1: meta[name] = .float(try attribute.double())
        default: continue  // Arrays and exotic types have no metadata equivalent; skip them.
        }
      } catch {
        throw hdf5Error(error, path: reader.path, part: "attribute \"\(name)\"")
      }
    }
    return meta
  }

  /// Writes `model` in the plain layout, atomically. `dtype` is the type of W, b, V and c; by
  /// default f32, or f64 for a parameter stored as f64.
  public static func write(
    _ model: ElmanModel, to path: String, dtype: DType? = nil, overwrite: Bool = false
  ) throws(HDF5Error) {
    if let dtype { _ = try HDF5File.checkWritable(dtype, path: path) }
    try HDF5File.checkWritable(model, path: path, strings: true)
    let estimate = HDF5File.estimatedSize(of: model, requested: dtype)
    try HDF5File.create(path: path, overwrite: overwrite, reserving: estimate) { root throws(HDF5Error) in
      do {
        for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
          let target = HDF5File.defaultDType(parameter, requested: dtype)
          try HDF5File.writeParameter(parameter, name: name, in: root, dtype: target)
        }
        if let vocabulary = model.vocabulary {
          try root.writeStringDataset("vocab", strings: vocabulary.tokens)
        }
        try root.writeAttribute(
          Key.hiddenActivation, strings: [model.hiddenActivation.rawValue], scalar: true)
        try root.writeAttribute(
          Key.outputActivation, strings: [model.outputActivation.rawValue], scalar: true)
        try root.writeAttribute(Key.inputKind, strings: [model.inputKind.rawValue], scalar: true)
        if model.inputKind == .tokens {
          let t = model.tokenizer
          try root.writeAttribute(Key.tokenizerLevel, strings: [t.level.rawValue], scalar: true)
          try root.writeAttribute(Key.tokenizerLowercase, bool: t.lowercase)
          try root.writeAttribute(Key.tokenizerSplitPunctuation, bool: t.splitPunctuation)
          if let unknown = t.unknownToken {
            try root.writeAttribute(Key.tokenizerUnknownToken, strings: [unknown], scalar: true)
          }
          if let end = t.endOfSequence {
            try root.writeAttribute(Key.tokenizerEndOfSequence, strings: [end], scalar: true)
          }
        }
        let p = model.provenance
        let strings: [(String, String?)] = [
          (Key.name, p.name), (Key.description, p.description), (Key.sourceFormat, p.sourceFormat),
          (Key.converterVersion, p.converterVersion), (Key.created, p.created),
        ]
        for (key, value) in strings {
          if let value { try root.writeAttribute(key, strings: [value], scalar: true) }
        }
        for (key, value) in model.extraMetadata
        where !Key.all.contains(key) && !Schema.knownKeys.contains(key) {
          switch value {
          case .string(let s): try root.writeAttribute(key, strings: [s], scalar: true)
          case .stringArray(let a): try root.writeAttribute(key, strings: a, scalar: false)
          case .int(let i): try root.writeAttribute(key, int: i)
          case .float(let d): try root.writeAttribute(key, double: d)
          case .bool(let b): try root.writeAttribute(key, bool: b)
          case .opaque: continue  // Bytes of an unknown type have no HDF5 meaning.
          }
        }
      } catch {
        throw hdf5Error(error, path: path)
      }
    }
  }
}
