import Foundation
import RNNModel
import RNNTraining
import Testing

@Suite struct TrainerTests {
  static let text = """
    the cat sat on the mat.
    the dog sat on the log.
    a cat and a dog sat on a mat.
    the mat is red. the log is brown.
    """

  static func train(
    _ text: String = text, settings: LanguageModelSettings = LanguageModelSettings(hiddenSize: 8),
    options: TrainingOptions = TrainingOptions(epochs: 3, learningRate: 0.1, seed: 7), base: BaseModel? = nil
  ) throws(TrainingError) -> (model: ElmanModel, reports: [EpochReport]) {
    try LanguageModelTrainer.train(
      text: text, corpusName: "corpus.txt", settings: settings, options: options, base: base,
      provenance: Provenance(name: "test", sourceFormat: "rnnkit-train"))
  }

  @Test func sameSeedGivesTheSameBytes() throws {
    let first = try Self.train().model.encoded()
    let second = try Self.train().model.encoded()
    #expect(first == second)
    let other = try Self.train(options: TrainingOptions(epochs: 3, learningRate: 0.1, seed: 8)).model
      .encoded()
    #expect(other != first)
  }

  @Test func lossFallsAndPerplexityIsItsExponential() throws {
    let (_, reports) = try Self.train(options: TrainingOptions(epochs: 30, learningRate: 0.1, seed: 1))
    #expect(reports.count == 30)
    let first = try #require(reports.first)
    let last = try #require(reports.last)
    #expect(last.meanLoss < first.meanLoss * 0.7, "loss \(first.meanLoss) -> \(last.meanLoss)")
    #expect(
      try #require(last.perplexity).isApproximatelyEqual(
        to: Foundation.exp(last.meanLoss), relativeTolerance: 1e-12))
    // Each line of n tokens gives n - 1 predictions.
    #expect(last.tokens == 6 + 6 + 9 + 9)
  }

  @Test func vocabularyHasUnknownFirstAndHonoursMinCount() throws {
    let model = try Self.train(settings: LanguageModelSettings(minCount: 2, hiddenSize: 8)).model
    let tokens = try #require(model.vocabulary).tokens
    #expect(tokens.first == "<unk>")
    #expect(tokens.contains("sat") && tokens.contains("the"))
    #expect(!tokens.contains("red") && !tokens.contains("and"))
    #expect(model.inputSize == tokens.count && model.outputSize == tokens.count)
    #expect(model.tokenizer.unknownToken == "<unk>")
    #expect(model.provenance.sourceFormat == "rnnkit-train")
  }

  @Test func charLevelAndLowercase() throws {
    let model = try Self.train(
      "AbA bab\nbAB", settings: LanguageModelSettings(level: .char, lowercase: true, hiddenSize: 4)
    ).model
    #expect(model.tokenizer.level == .char)
    #expect(Set(try #require(model.vocabulary).tokens) == ["<unk>", "a", "b", " "])
  }

  @Test func continuingFromAModelKeepsItsVocabularyAndLowersTheLoss() throws {
    let (first, reports) = try Self.train(options: TrainingOptions(epochs: 5, learningRate: 0.1, seed: 2))
    let (second, more) = try Self.train(
      settings: LanguageModelSettings(), options: TrainingOptions(epochs: 5, learningRate: 0.1, seed: 2),
      base: BaseModel(model: first, path: "first.rnn"))
    #expect(second.vocabulary?.tokens == first.vocabulary?.tokens)
    #expect(second.hiddenSize == 8)
    #expect(more.first!.meanLoss < reports.first!.meanLoss)
  }

  // MARK: Bad input

  @Test(arguments: ["", "   \n\n  \t\n"])
  func emptyCorpus(text: String) {
    #expect {
      try Self.train(text)
    } throws: { error in
      guard case TrainingError.emptyCorpus(let path) = error else { return false }
      return path == "corpus.txt" && "\(error)".hasPrefix("corpus.txt: ")
    }
  }

  @Test(arguments: ["word", "one\ntwo\nthree"])
  func corpusWithoutTwoTokensOnALine(text: String) {
    #expect(throws: TrainingError.self) { try Self.train(text) }
    do {
      _ = try Self.train(text)
    } catch {
      guard case .tooFewTokens = error else {
        Issue.record("unexpected \(error)")
        return
      }
    }
  }

  @Test func corpusThatIsNotUTF8() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-latin1-\(UUID()).txt")
      .path
    defer { try? FileManager.default.removeItem(atPath: path) }
    // "café au lait" in Latin-1: é is the single byte 0xE9.
    let bytes: [UInt8] = Array("caf".utf8) + [0xE9] + Array(" au lait\n".utf8)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    do {
      _ = try Corpus.readText(path: path)
      Issue.record("read a Latin-1 file as UTF-8")
    } catch {
      guard case .corpusNotUTF8(_, let offset) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(offset == 3)
      #expect("\(error)".contains("not valid UTF-8"))
    }
  }

  @Test func byteOrderMarkIsDropped() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-bom-\(UUID()).txt").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data([0xEF, 0xBB, 0xBF] + Array("Sushi is japanese.\r\nPizza is italian.\r\n".utf8))
      .write(to: URL(fileURLWithPath: path))
    let corpus = Corpus(text: try Corpus.readText(path: path), tokenizer: TokenizerSettings(lowercase: false))
    #expect(corpus.lines == [["Sushi", "is", "japanese", "."], ["Pizza", "is", "italian", "."]])
  }

  @Test func directoryIsNotACorpus() {
    let path = FileManager.default.temporaryDirectory.path
    do {
      _ = try Corpus.readText(path: path)
      Issue.record("read a directory")
    } catch {
      #expect("\(error)" == "\(path): cannot read the corpus: it is a directory, not a text file")
    }
  }

  @Test func missingCorpusFile() {
    do {
      _ = try Corpus.readText(path: "/nonexistent/corpus.txt")
      Issue.record("read a missing file")
    } catch {
      #expect("\(error)".hasPrefix("/nonexistent/corpus.txt: cannot read the corpus"))
    }
  }

  @Test(arguments: [
    (LanguageModelSettings(hiddenSize: 0), TrainingOptions(), TrainingParameter.hiddenSize),
    (LanguageModelSettings(hiddenSize: -3), TrainingOptions(), TrainingParameter.hiddenSize),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(learningRate: 0), TrainingParameter.learningRate),
    (
      LanguageModelSettings(hiddenSize: 4), TrainingOptions(learningRate: -0.1),
      TrainingParameter.learningRate
    ),
    (
      LanguageModelSettings(hiddenSize: 4), TrainingOptions(learningRate: .nan),
      TrainingParameter.learningRate
    ),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(epochs: 0), TrainingParameter.epochs),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(clip: 0), TrainingParameter.clip),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(bpttLength: 0), TrainingParameter.bpttLength),
    (LanguageModelSettings(minCount: 0, hiddenSize: 4), TrainingOptions(), TrainingParameter.minCount),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(threads: 0), TrainingParameter.threads),
    (LanguageModelSettings(hiddenSize: 4), TrainingOptions(threads: 1025), TrainingParameter.threads),
  ])
  func invalidOptions(settings: LanguageModelSettings, options: TrainingOptions, option: TrainingParameter) {
    do {
      _ = try Self.train(settings: settings, options: options)
      Issue.record("accepted a bad \(option)")
    } catch {
      guard case .invalidParameter(let name, _, _) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(name == option)
    }
  }

  @Test func nanLossStopsAndNamesTheEpoch() {
    do {
      // 1e38 overflows f32 weights in the first updates. (At 1e30 the weights stay finite, and the
      // kernels' loss, m + log Σ e^(z−m) − z_target, is huge but finite.)
      _ = try Self.train(options: TrainingOptions(epochs: 3, learningRate: 1e38, clip: nil, seed: 1))
      Issue.record("trained through a diverging learning rate")
    } catch {
      guard case .nonFiniteLoss(let epoch, _, _) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(epoch == 1)
      let message = "\(error)"
      #expect(
        message.contains("epoch 1") && message.contains("learning rate") && message.contains("clipping"))
    }
  }

  @Test func continuingRejectsModelsThatDoNotFit() throws {
    let base = BaseModel(model: try Self.train().model, path: "base.rnn")
    let cases: [(LanguageModelSettings, String, String)] = [
      (LanguageModelSettings(level: .char), Self.text, "char-level"),
      (LanguageModelSettings(lowercase: true), Self.text, "keeps case"),
      (LanguageModelSettings(hiddenSize: 16), Self.text, "hidden size 8"),
      (LanguageModelSettings(minCount: 2), Self.text, "minimum count"),
      (LanguageModelSettings(), "zebras graze quietly near rivers\nwolves howl at night", "does not fit"),
    ]
    for (settings, text, fragment) in cases {
      do {
        _ = try Self.train(text, settings: settings, base: base)
        Issue.record("accepted \(settings) for \(text)")
      } catch {
        let path: String
        switch error {
        case .incompatibleModel(let base, _), .conflictsWithBaseModel(let base, _, _): path = base
        default:
          Issue.record("unexpected \(error)")
          continue
        }
        #expect(path == "base.rnn")
        #expect("\(error)".contains(fragment), "\(error)")
      }
    }
  }

  @Test func continuingRejectsADenseModel() throws {
    let dense = try ElmanModel(
      W: Parameter([Float](repeating: 0, count: 2 * 5), shape: [2, 5]), b: Parameter([0, 0], shape: [2]),
      V: Parameter([0, 0], shape: [1, 2]), c: Parameter([0], shape: [1]), hiddenActivation: .tanh,
      outputActivation: .identity, inputKind: .dense)
    do {
      _ = try Self.train(settings: LanguageModelSettings(), base: BaseModel(model: dense, path: "dense.rnn"))
      Issue.record("continued a dense model")
    } catch {
      #expect("\(error)".hasPrefix("dense.rnn: is a dense-input model"))
    }
  }

  @Test func splitMix64MatchesTheReferenceSequence() {
    // The first outputs for seed 0 from the reference implementation (Vigna's splitmix64.c).
    var generator = SplitMix64(seed: 0)
    #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
    #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
    #expect(generator.next() == 0x06C4_5D18_8009_454F)
  }
}
