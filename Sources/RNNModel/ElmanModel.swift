import RNNFormat

/// Where a model came from. Every field is optional.
public struct Provenance: Equatable, Sendable {
  public var name: String?
  public var description: String?
  /// The format it was converted from, such as `keras-h5`.
  public var sourceFormat: String?
  /// The RNNKit version that wrote it.
  public var converterVersion: String?
  /// An ISO 8601 date.
  public var created: String?

  /// Builds and validates a model: shapes, activations and the vocabulary must agree.
  public init(
    name: String? = nil, description: String? = nil, sourceFormat: String? = nil,
    converterVersion: String? = nil, created: String? = nil
  ) {
    self.name = name
    self.description = description
    self.sourceFormat = sourceFormat
    self.converterVersion = converterVersion
    self.created = created
  }
}

/// A simple (Elman) recurrent network:
/// h_t = f(W·[h_{t-1}; x_t] + b), y_t = g(V·h_t + c), h_0 = 0.
///
/// `W` is H×(H+X) with the recurrent block first (W = [W_h | W_x]), `b` has H entries, `V` is O×H
/// and `c` has O. All matrices are row-major. Every importer produces this value, every exporter
/// and the runtime consume it.
public struct ElmanModel: Sendable {
  /// W = [W_h \| W_x], H × (H + X).
  public var W: Parameter
  /// The hidden bias b, of H.
  public var b: Parameter
  /// The output weights V, O × H.
  public var V: Parameter
  /// The output bias c, of O.
  public var c: Parameter
  /// The hidden activation f.
  public var hiddenActivation: HiddenActivation
  /// The output activation g.
  public var outputActivation: OutputActivation
  /// Whether x_t is a one-hot token or a dense vector.
  public var inputKind: InputKind
  /// The tokens, in id order; nil for dense models.
  public var vocabulary: Vocabulary?
  /// How text becomes tokens for this model.
  public var tokenizer: TokenizerSettings
  /// Where the model came from: name, source format, converter, date.
  public var provenance: Provenance
  /// Metadata keys this version does not interpret, kept for round trips.
  public var extraMetadata: Metadata
  /// Tensors this version does not interpret, kept for round trips.
  public var extraTensors: [TensorSource]

  /// H, the hidden size.
  public var hiddenSize: Int { b.count }
  /// X, the input size (the vocabulary size for token models).
  public var inputSize: Int { W.shape.count == 2 ? W.shape[1] - hiddenSize : 0 }
  /// O, the output size.
  public var outputSize: Int { c.count }

  /// Builds and validates a model: shapes, activations and the vocabulary must agree.
  /// Builds and validates a model.
  public init(
    W: Parameter, b: Parameter, V: Parameter, c: Parameter,
    hiddenActivation: HiddenActivation, outputActivation: OutputActivation,
    inputKind: InputKind, vocabulary: Vocabulary? = nil,
    tokenizer: TokenizerSettings = TokenizerSettings(), provenance: Provenance = Provenance(),
    extraMetadata: Metadata = Metadata(), extraTensors: [TensorSource] = []
  ) throws(ModelError) {
    self.W = W
    self.b = b
    self.V = V
    self.c = c
    self.hiddenActivation = hiddenActivation
    self.outputActivation = outputActivation
    self.inputKind = inputKind
    self.vocabulary = vocabulary
    self.tokenizer = tokenizer
    self.provenance = provenance
    self.extraMetadata = extraMetadata
    self.extraTensors = extraTensors
    try validateShapes()
  }

  /// Checks shapes, and the vocabulary against X for token models.
  public func validateShapes() throws(ModelError) {
    guard b.shape.count == 1, b.count > 0 else {
      throw .wrongShape(tensor: "b", found: b.shape, expected: "[H] with H > 0")
    }
    let h = b.count
    guard c.shape.count == 1, c.count > 0 else {
      throw .wrongShape(tensor: "c", found: c.shape, expected: "[O] with O > 0")
    }
    let o = c.count
    guard W.shape.count == 2, W.shape[0] == h, W.shape[1] > h else {
      throw .wrongShape(tensor: "W", found: W.shape, expected: "[\(h), \(h)+X] with X > 0 (H = \(h) from b)")
    }
    guard V.shape == [o, h] else {
      throw .wrongShape(tensor: "V", found: V.shape, expected: "[\(o), \(h)] (O from c, H from b)")
    }
    switch inputKind {
    case .tokens:
      guard let vocabulary else { throw .vocabulary("a token model needs a vocabulary") }
      guard vocabulary.count == inputSize else {
        throw .vocabularySizeMismatch(vocabulary: vocabulary.count, inputSize: inputSize)
      }
      if let unknown = tokenizer.unknownToken, vocabulary.id(of: unknown) == nil {
        throw .vocabulary("the unknown token \"\(unknown)\" is not in the vocabulary")
      }
      if let end = tokenizer.endOfSequence, vocabulary.id(of: end) == nil {
        throw .vocabulary("the end-of-sequence token \"\(end)\" is not in the vocabulary")
      }
    case .dense:
      if vocabulary != nil { throw .vocabulary("a dense-input model must not have a vocabulary") }
    }
  }

  /// Every NaN or infinite weight, one error per tensor.
  public func nonFiniteWeights() -> [ModelError] {
    [("W", W), ("b", b), ("V", V), ("c", c)].compactMap { name, parameter in
      let (nan, inf) = parameter.nonFiniteCounts()
      return nan + inf > 0 ? .nonFinite(tensor: name, nanCount: nan, infCount: inf) : nil
    }
  }

  /// The output labels: the vocabulary when O equals its size, as in a language model.
  public var outputVocabulary: Vocabulary? {
    guard let vocabulary, vocabulary.count == outputSize else { return nil }
    return vocabulary
  }

  /// Builds the tokenizer described by the settings.
  public var textTokenizer: Tokenizer { Tokenizer(settings: tokenizer) }
}
