import RNNModel

/// What the user asked for about the model and its vocabulary. Nil means the default for a new
/// model, or the value of the model training continues from.
public struct LanguageModelSettings: Sendable {
  /// The tokenizer level of a new model; nil keeps the default or the base model's.
  public var level: TokenizerSettings.Level?
  /// Whether a new model lower-cases text; nil keeps the default or the base model's.
  public var lowercase: Bool?
  /// Tokens seen fewer times become `<unk>` (new models only).
  public var minCount: Int?
  /// H of a new model; nil keeps the default or the base model's.
  public var hiddenSize: Int?
  /// f of a new model; nil keeps the default or the base model's.
  public var hiddenActivation: HiddenActivation?
  /// A token added to the vocabulary and at the end of every line, so generation learns where a
  /// line ends; nil adds none. A continued model keeps its own.
  public var endOfSequence: String?

  /// Settings for a language model; nil fields keep defaults.
  public init(
    level: TokenizerSettings.Level? = nil, lowercase: Bool? = nil, minCount: Int? = nil,
    hiddenSize: Int? = nil,
    hiddenActivation: HiddenActivation? = nil, endOfSequence: String? = nil
  ) {
    self.endOfSequence = endOfSequence
    self.level = level
    self.lowercase = lowercase
    self.minCount = minCount
    self.hiddenSize = hiddenSize
    self.hiddenActivation = hiddenActivation
  }
}

/// A model training continues from, and the file it came from (for messages).
public struct BaseModel: Sendable {
  /// The model to continue training.
  public var model: ElmanModel
  /// Settings for a language model; nil fields keep defaults.
  public var path: String
  /// A model to continue, read from `path`.
  public init(model: ElmanModel, path: String) {
    self.model = model
    self.path = path
  }
}

/// Trains a next-token language model (O = X = the vocabulary size) on a text.
public enum LanguageModelTrainer {
  /// The unknown token of new models.
  public static let unknownToken = "<unk>"
  /// Continuing from a model fails when more than this share of the corpus's tokens is unknown to it.
  public static let maximumUnknownShare = 0.5

  /// The tokenizer to split the corpus with: the base model's, which the settings must not contradict,
  /// or a new one. Punctuation is split off words so that "sushi." is "sushi" and ".".
  public static func tokenizer(settings: LanguageModelSettings, base: BaseModel?) throws(TrainingError)
    -> TokenizerSettings
  {
    guard let base else {
      return TokenizerSettings(
        level: settings.level ?? .word, lowercase: settings.lowercase ?? false, splitPunctuation: true,
        unknownToken: unknownToken, endOfSequence: settings.endOfSequence)
    }
    let model = base.model
    guard model.inputKind == .tokens, let vocabulary = model.vocabulary else {
      throw .incompatibleModel(
        path: base.path, reason: "is a dense-input model; training needs a token model")
    }
    guard model.outputSize == vocabulary.count else {
      throw .incompatibleModel(
        path: base.path,
        reason:
          "has \(model.outputSize) outputs but \(vocabulary.count) tokens; training continues only a next-token model whose outputs are its vocabulary"
      )
    }
    let existing = model.tokenizer
    if let level = settings.level, level != existing.level {
      throw .conflictsWithBaseModel(
        path: base.path, parameter: .tokenizer,
        reason: "its tokenizer is \(existing.level.rawValue)-level, not \(level.rawValue)-level")
    }
    if let lowercase = settings.lowercase, lowercase != existing.lowercase {
      throw .conflictsWithBaseModel(
        path: base.path, parameter: .lowercase,
        reason:
          "its tokenizer \(existing.lowercase ? "lower-cases" : "keeps case"), unlike the settings asked")
    }
    if let hidden = settings.hiddenSize, hidden != model.hiddenSize {
      throw .conflictsWithBaseModel(
        path: base.path, parameter: .hiddenSize, reason: "has hidden size \(model.hiddenSize), not \(hidden)")
    }
    if let f = settings.hiddenActivation, f != model.hiddenActivation {
      throw .conflictsWithBaseModel(
        path: base.path, parameter: .hiddenActivation,
        reason: "its hidden activation is \(model.hiddenActivation.rawValue), not \(f.rawValue)")
    }
    if settings.minCount != nil {
      throw .conflictsWithBaseModel(
        path: base.path, parameter: .minCount,
        reason: "a minimum count shapes a new vocabulary, and a continued model keeps its own")
    }
    return existing
  }

  /// Throws unless W (H×(H+X)) and V (O×H) each fit in ``Trainer/maximumElements``.
  static func checkSize(hidden: Int, vocabulary: Int) throws(TrainingError) {
    let (width, o1) = hidden.addingReportingOverflow(vocabulary)
    let (w, o2) = hidden.multipliedReportingOverflow(by: width)
    guard !o1, !o2, w <= Trainer.maximumElements else {
      throw .invalidParameter(
        .hiddenSize, value: "\(hidden)",
        reason:
          "W would have \(hidden)×(\(hidden)+\(vocabulary)) weights, more than \(Trainer.maximumElements); use a smaller hidden size or a larger minimum count"
      )
    }
  }

  /// Tokenizes `text`, builds or checks the vocabulary, trains, and returns the model.
  ///
  /// - Parameters:
  ///   - corpusName: the file name used in error messages.
  ///   - options: `hiddenSize` and `hiddenActivation` are taken from `settings` or the base model.
  public static func train(
    text: String, corpusName: String, settings: LanguageModelSettings, options: TrainingOptions,
    base: BaseModel? = nil, provenance: Provenance,
    progress: (TrainingProgress) -> Void = { _ in }, epochEnd: (EpochReport) -> Void = { _ in }
  ) throws(TrainingError) -> (model: ElmanModel, reports: [EpochReport]) {
    var options = options
    if let hidden = settings.hiddenSize { options.hiddenSize = hidden }
    if let f = settings.hiddenActivation { options.hiddenActivation = f }
    if let minCount = settings.minCount, minCount < 1 {
      throw .invalidParameter(.minCount, value: "\(minCount)", reason: "the minimum count must be at least 1")
    }
    try options.validate()
    let tokenizer = try tokenizer(settings: settings, base: base)
    let corpus = Corpus(text: text, tokenizer: tokenizer, name: corpusName)
    try corpus.checkTrainable()

    let vocabulary: Vocabulary
    var network: ElmanNetwork<Float>
    if let base {
      vocabulary = base.model.vocabulary!
      network = ElmanNetwork(model: base.model)
    } else {
      let words = try corpus.vocabulary(minCount: settings.minCount ?? 1, unknownToken: unknownToken)
      if let end = tokenizer.endOfSequence, words.id(of: end) == nil {
        do { vocabulary = try Vocabulary(words.tokens + [end]) } catch { throw .model(error) }
      } else {
        vocabulary = words
      }
      try checkSize(hidden: options.hiddenSize, vocabulary: vocabulary.count)
      var generator = SplitMix64(seed: options.seed)
      network = .random(
        hiddenSize: options.hiddenSize, inputSize: vocabulary.count, outputSize: vocabulary.count,
        hiddenActivation: options.hiddenActivation, outputActivation: .softmax, generator: &generator)
    }
    let unknownID = tokenizer.unknownToken.flatMap { vocabulary.id(of: $0) }
    var (sequences, unknown) = corpus.encode(vocabulary: vocabulary, unknownID: unknownID)
    if let end = tokenizer.endOfSequence.flatMap({ vocabulary.id(of: $0) }) {
      sequences = sequences.map { $0.isEmpty ? $0 : $0 + [end] }
    }
    if let base, !unknown.isEmpty {
      let examples = unknown.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .prefix(5).map { "\"\($0.key)\"" }.joined(separator: ", ")
      let unknownCount = unknown.values.reduce(0, +)
      if unknownID == nil {
        throw .incompatibleModel(
          path: base.path,
          reason:
            "its vocabulary has no unknown token and lacks \(unknown.count) of the corpus's tokens (\(examples)); train a new model"
        )
      }
      let share = Double(unknownCount) / Double(max(corpus.tokenCount, 1))
      if share > maximumUnknownShare {
        throw .incompatibleModel(
          path: base.path,
          reason:
            "its vocabulary does not fit the corpus: \(Int((share * 100).rounded()))% of the corpus's tokens are unknown to it (\(examples)); train a new model"
        )
      }
    }
    let reports = try Trainer.train(
      &network, sequences: sequences, options: options, progress: progress, epochEnd: epochEnd)
    do {
      let model = try network.model(vocabulary: vocabulary, tokenizer: tokenizer, provenance: provenance)
      return (model, reports)
    } catch {
      throw .model(error)
    }
  }
}
