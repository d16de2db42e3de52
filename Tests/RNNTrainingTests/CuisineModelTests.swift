import Foundation
import RNNModel
import RNNTraining
import Testing

/// The committed fixture Fixtures/cuisine.rnn, trained on Fixtures/corpus/cuisine.txt by
/// scripts/make_cuisine_model.sh, must answer the seed's question.
@Suite struct CuisineModelTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let modelPath = root.appendingPathComponent("Fixtures/cuisine.rnn").path
  static let corpusPath = root.appendingPathComponent("Fixtures/corpus/cuisine.txt").path

  /// The most likely next token after `prompt`, with the network's own forward pass in f64.
  static func topToken(_ model: ElmanModel, after prompt: String) throws -> (
    token: String, probability: Double
  ) {
    let vocabulary = try #require(model.vocabulary)
    let (ids, unknown) = model.textTokenizer.encode(prompt, vocabulary: vocabulary)
    #expect(unknown.isEmpty)
    let network = ElmanNetwork<Double>(model: model)
    let last = try #require(network.outputs(inputs: ids).last)
    let best = last.indices.max { last[$0] < last[$1] }!
    return (vocabulary[best], last[best])
  }

  /// Every (dish, cuisine) pair the corpus states in the seed's pattern.
  static func corpusPairs() throws -> [(dish: String, cuisine: String)] {
    let text = try String(contentsOfFile: corpusPath, encoding: .utf8)
    let pattern = try NSRegularExpression(
      pattern: "^My favourite dish is ([a-z-]+)\\. So, my favourite cuisine is ([a-z]+)\\.$",
      options: [.anchorsMatchLines])
    var pairs: [String: String] = [:]
    for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
      let dish = String(text[Range(match.range(at: 1), in: text)!])
      pairs[dish] = String(text[Range(match.range(at: 2), in: text)!])
    }
    return pairs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  @Test func seedSentenceAnswersJapanese() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    let (token, probability) = try Self.topToken(
      model, after: "My favourite dish is sushi. So, my favourite cuisine is")
    #expect(token == "japanese")
    #expect(probability > 0.5)
  }

  @Test func everyDishOfTheCorpusGivesItsCuisine() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    let pairs = try Self.corpusPairs()
    #expect(pairs.count >= 30)
    var wrong: [String] = []
    for (dish, cuisine) in pairs {
      let (token, _) = try Self.topToken(
        model, after: "My favourite dish is \(dish). So, my favourite cuisine is")
      if token != cuisine { wrong.append("\(dish): \(token) instead of \(cuisine)") }
    }
    #expect(wrong.isEmpty, "\(wrong)")
  }

  /// Whether `python3` can import h5py and numpy.
  static let hasH5py: Bool = {
    guard let (status, _) = try? python("import h5py, numpy") else { return false }
    return status == 0
  }()

  static func python(_ script: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// The committed HDF5 export holds exactly the weights and vocabulary of Fixtures/cuisine.rnn, as
  /// h5py reads it (so a regenerated .rnn without a regenerated .h5 fails here).
  @Test(.enabled(if: hasH5py, "needs python3 with h5py and numpy (scripts/bootstrap.sh --python)"))
  func hdf5ExportMatchesTheModel() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    let h5 = Self.root.appendingPathComponent("Fixtures/cuisine.h5").path
    let script = """
      import h5py, json, sys
      f = h5py.File(sys.argv[1] if len(sys.argv) > 1 else \(String(reflecting: h5)), "r")
      # Bit patterns of the f32 values, so the comparison is exact whatever a JSON parser rounds.
      out = {k: f[k][()].astype("float32").ravel().view("uint32").tolist() for k in ("W", "b", "V", "c")}
      out["shapes"] = {k: list(f[k].shape) for k in ("W", "b", "V", "c")}
      out["vocab"] = [t.decode() if isinstance(t, bytes) else t for t in f["vocab"][()]]
      print(json.dumps(out))
      """
    let (status, output) = try Self.python(script)
    #expect(status == 0)
    let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      let bits = try #require(json[name] as? [Int])
      let expected = parameter.floats().map { Int($0.bitPattern) }
      let differing = zip(bits, expected).filter { $0 != $1 }.count
      #expect(bits.count == expected.count && differing == 0, "\(name): \(differing) values differ")
      #expect((json["shapes"] as? [String: [Int]])?[name] == parameter.shape)
    }
    #expect(json["vocab"] as? [String] == model.vocabulary?.tokens)
  }

  @Test func fixtureRecordsHowItWasMade() throws {
    let model = try ElmanModel.load(path: Self.modelPath)
    #expect(model.provenance.sourceFormat == "rnnkit-train")
    #expect(model.tokenizer.lowercase)
    #expect(model.outputActivation == .softmax)
    #expect(model.vocabulary?[0] == "<unk>")
  }
}
