import RNNFormat

/// The Elman schema on top of the container (docs/FORMAT.md, "The Elman schema").
public enum Schema {
  /// The metadata key naming the architecture ("elman").
  public static let architecture = "rnn.architecture"
  /// The metadata key of f.
  public static let hiddenActivation = "rnn.hidden_activation"
  /// The metadata key of g.
  public static let outputActivation = "rnn.output_activation"
  /// The metadata key of the input kind (tokens or dense).
  public static let inputKind = "rnn.input_kind"
  /// The metadata key of the tokenizer level (word or char).
  public static let tokenizerLevel = "tokenizer.level"
  /// The metadata key of whether text is lower-cased.
  public static let tokenizerLowercase = "tokenizer.lowercase"
  /// The metadata key of whether punctuation is split off words.
  public static let tokenizerSplitPunctuation = "tokenizer.split_punctuation"
  /// The metadata key of the unknown token.
  public static let tokenizerUnknownToken = "tokenizer.unknown_token"
  /// The metadata key of the end-of-sequence token that training appends to each line.
  public static let tokenizerEndOfSequence = "tokenizer.end_of_sequence"
  /// The provenance key of the model's name.
  public static let name = "general.name"
  /// The provenance key of the model's description.
  public static let description = "general.description"
  /// The provenance key of the format the model was converted from.
  public static let sourceFormat = "general.source_format"
  /// The provenance key of the RNNKit version that wrote the file.
  public static let converterVersion = "general.converter_version"
  /// The provenance key of the creation date (ISO 8601).
  public static let created = "general.created"

  /// The keys this version interprets, in the order they are written.
  public static let knownKeys: [String] = [
    architecture, hiddenActivation, outputActivation, inputKind, tokenizerLevel, tokenizerLowercase,
    tokenizerSplitPunctuation, tokenizerUnknownToken, tokenizerEndOfSequence, name, description, sourceFormat,
    converterVersion,
    created,
  ]
  /// The tensors this version interprets, in the order they are written.
  public static let knownTensors: [String] = [
    "W", "W.scale", "b", "V", "V.scale", "c", "vocab.offsets", "vocab.bytes",
  ]
}

/// The version of RNNKit, written as `general.converter_version`.
public let rnnkitVersion = "0.1.0"

extension ElmanModel {
  /// Opens, validates and wraps the `.rnn` file at `path`. Tensors stay memory-mapped.
  public static func load(path: String, options: ReadOptions = ReadOptions()) throws -> ElmanModel {
    let container: Container
    do {
      container = try Container.open(path: path, options: options)
    } catch {
      throw error
    }
    do {
      return try ElmanModel(container: container)
    } catch {
      throw ModelFileError(path: path, error: error)
    }
  }

  /// Interprets a container as an Elman model.
  public init(container: Container) throws(ModelError) {
    let meta = container.metadata
    func string(_ key: String, required: Bool = true) throws(ModelError) -> String? {
      guard let value = meta[key] else {
        if required { throw .missingKey(key) }
        return nil
      }
      guard let s = value.stringValue else {
        throw .wrongType(key: key, found: value.typeName, expected: "string")
      }
      return s
    }
    func bool(_ key: String, default fallback: Bool) throws(ModelError) -> Bool {
      guard let value = meta[key] else { return fallback }
      guard let b = value.boolValue else {
        throw .wrongType(key: key, found: value.typeName, expected: "bool")
      }
      return b
    }
    let arch = try string(Schema.architecture)!
    guard arch == "elman" else {
      throw .invalidValue(key: Schema.architecture, value: arch, allowed: ["elman"])
    }
    let fName = try string(Schema.hiddenActivation)!
    guard let f = HiddenActivation(rawValue: fName) else {
      throw .unknownActivation(
        key: Schema.hiddenActivation, name: fName, known: HiddenActivation.allCases.map(\.rawValue))
    }
    let gName = try string(Schema.outputActivation)!
    guard let g = OutputActivation(rawValue: gName) else {
      throw .unknownActivation(
        key: Schema.outputActivation, name: gName, known: OutputActivation.allCases.map(\.rawValue))
    }
    let kindName = try string(Schema.inputKind)!
    guard let kind = InputKind(rawValue: kindName) else {
      throw .invalidValue(key: Schema.inputKind, value: kindName, allowed: InputKind.allCases.map(\.rawValue))
    }

    func tensor(_ name: String) throws(ModelError) -> TensorView {
      // The container's view carries its deferred verification, if any.
      guard container.entry(named: name) != nil, let view = try? container.tensor(named: name) else {
        throw .missingTensor(name)
      }
      return view
    }
    let W = try Parameter(matrix: tensor("W"), in: container)
    let b = try Parameter(view: tensor("b"))
    let V = try Parameter(matrix: tensor("V"), in: container)
    let c = try Parameter(view: tensor("c"))

    var tokenizer = TokenizerSettings()
    var vocabulary: Vocabulary?
    if kind == .tokens {
      let levelName = try string(Schema.tokenizerLevel)!
      guard let level = TokenizerSettings.Level(rawValue: levelName) else {
        throw .invalidValue(
          key: Schema.tokenizerLevel, value: levelName,
          allowed: TokenizerSettings.Level.allCases.map(\.rawValue))
      }
      tokenizer = TokenizerSettings(
        level: level,
        lowercase: try bool(Schema.tokenizerLowercase, default: false),
        splitPunctuation: try bool(Schema.tokenizerSplitPunctuation, default: false),
        unknownToken: try string(Schema.tokenizerUnknownToken, required: false),
        endOfSequence: try string(Schema.tokenizerEndOfSequence, required: false))
      vocabulary = try Vocabulary(offsets: tensor("vocab.offsets"), bytes: tensor("vocab.bytes"))
    } else {
      for name in ["vocab.offsets", "vocab.bytes"] where container.entry(named: name) != nil {
        throw .vocabulary("a dense-input model must not have tensor \"\(name)\"")
      }
    }

    let provenance = Provenance(
      name: try string(Schema.name, required: false),
      description: try string(Schema.description, required: false),
      sourceFormat: try string(Schema.sourceFormat, required: false),
      converterVersion: try string(Schema.converterVersion, required: false),
      created: try string(Schema.created, required: false))

    var extra = Metadata()
    for (key, value) in meta where !Schema.knownKeys.contains(key) { extra[key] = value }
    let extraTensors = container.tensorViews.filter { !Schema.knownTensors.contains($0.name) }
      .map(TensorSource.init(copying:))

    try self.init(
      W: W, b: b, V: V, c: c, hiddenActivation: f, outputActivation: g, inputKind: kind,
      vocabulary: vocabulary, tokenizer: tokenizer, provenance: provenance, extraMetadata: extra,
      extraTensors: extraTensors)
  }

  /// The metadata as written: known keys in schema order, then unknown keys in their original order.
  public var containerMetadata: Metadata {
    var meta = Metadata()
    meta[Schema.architecture] = .string("elman")
    meta[Schema.hiddenActivation] = .string(hiddenActivation.rawValue)
    meta[Schema.outputActivation] = .string(outputActivation.rawValue)
    meta[Schema.inputKind] = .string(inputKind.rawValue)
    if inputKind == .tokens {
      meta[Schema.tokenizerLevel] = .string(tokenizer.level.rawValue)
      meta[Schema.tokenizerLowercase] = .bool(tokenizer.lowercase)
      meta[Schema.tokenizerSplitPunctuation] = .bool(tokenizer.splitPunctuation)
      if let unknown = tokenizer.unknownToken { meta[Schema.tokenizerUnknownToken] = .string(unknown) }
      if let end = tokenizer.endOfSequence { meta[Schema.tokenizerEndOfSequence] = .string(end) }
    }
    meta[Schema.name] = provenance.name.map(MetadataValue.string)
    meta[Schema.description] = provenance.description.map(MetadataValue.string)
    meta[Schema.sourceFormat] = provenance.sourceFormat.map(MetadataValue.string)
    meta[Schema.converterVersion] = provenance.converterVersion.map(MetadataValue.string)
    meta[Schema.created] = provenance.created.map(MetadataValue.string)
    for (key, value) in extraMetadata where !Schema.knownKeys.contains(key) { meta[key] = value }
    return meta
  }

  /// The tensors as written; `dtype` converts W, b, V and c (nil keeps each one's stored dtype).
  public func containerTensors(dtype: DType? = nil) -> [TensorSource] {
    // i8 applies to V only: W keeps its dtype (it is expanded to f32 once when a model is prepared,
    // so i8 would save only file size), and vectors have no rows to scale.
    let vectorDType = dtype == .i8 ? nil : dtype
    var tensors = W.sources(name: "W", dtype: vectorDType) + [b.source(name: "b", dtype: vectorDType)]
    tensors += V.sources(name: "V", dtype: dtype) + [c.source(name: "c", dtype: vectorDType)]
    if let vocabulary { tensors += vocabulary.sources() }
    tensors += extraTensors.filter { !Schema.knownTensors.contains($0.name) }
    return tensors
  }

  /// Checks that the model can be written so that RNNKit reads it back: shapes and vocabulary
  /// valid, tokens unique, and its `.rnn` form within the reader's caps in `limits`. Every writer
  /// of every format calls this before it writes, since every format is read through this model
  /// (and `rnnkit` reads HDF5 through a scratch `.rnn`).
  public func checkWritable(limits: ReadOptions = ReadOptions()) throws(ModelError) {
    try validateShapes()
    try vocabulary?.checkUnique()
    var tensors: [(name: String, shape: [Int])] = [
      ("W", W.shape), ("b", b.shape), ("V", V.shape), ("c", c.shape),
    ]
    if let vocabulary { tensors += [("vocab.offsets", [vocabulary.count + 1]), ("vocab.bytes", [0])] }
    tensors += extraTensors.filter { !Schema.knownTensors.contains($0.name) }.map { ($0.name, $0.shape) }
    do {
      try ContainerWriter.check(metadata: containerMetadata, tensors: tensors, limits: limits)
    } catch {
      throw .container(error)
    }
  }

  /// Writes the model atomically as `.rnn`.
  public func write(to path: String, dtype: DType? = nil, overwrite: Bool = false, durable: Bool = true)
    throws(ContainerError)
  {
    do { try checkWritable() } catch {
      if case .container(let format) = error { throw ContainerError(path: path, error: format) }
      throw ContainerError(path: path, error: .invalidField(part: "model", reason: error.description))
    }
    try ContainerWriter.write(
      metadata: containerMetadata, tensors: containerTensors(dtype: dtype), to: path, overwrite: overwrite,
      durable: durable)
  }

  /// Writes the model as `.rnn` into `fd`, an empty file the caller owns (not atomic).
  public func write(toDescriptor fd: Int32, dtype: DType? = nil) throws {
    try ContainerWriter.write(
      metadata: containerMetadata, tensors: containerTensors(dtype: dtype), toDescriptor: fd)
  }

  /// The `.rnn` bytes of the model.
  public func encoded(dtype: DType? = nil) throws -> [UInt8] {
    try ContainerWriter.encode(metadata: containerMetadata, tensors: containerTensors(dtype: dtype))
  }
}
