/// The vocabulary, and what the model predicts after a few prompts.
struct VocabularySection {
  /// One prompt and the most likely next tokens.
  struct Prediction {
    var prompt: String
    var tokens: [String]
    var next: [TokenProbability]
  }

  let model: ElmanModel
  let predictions: [Prediction]
  /// Why there are no predictions, when there are none.
  let predictionNote: String?

  /// Runs the prompts; without any, the empty prompt (h_0 = 0, so y = g(c): the model's prior)
  /// and its three most likely tokens as one-token prompts.
  init(model: ElmanModel, inference: InferenceModel?, prompts: [String], top: Int) throws(ReportError) {
    self.model = model
    let isLanguageModel =
      model.inputKind == .tokens && model.outputSize == model.inputSize && model.vocabulary != nil
    guard isLanguageModel, let inference else {
      if !prompts.isEmpty {
        throw .prompt(prompts[0], reason: "predictions need a language model (token inputs and O = X)")
      }
      predictions = []
      predictionNote =
        model.inputKind == .dense
        ? "This model takes dense inputs, so there are no token predictions."
        : "The outputs are not labelled by the vocabulary (O ≠ X), so there are no token predictions."
      return
    }
    let vocabulary = model.vocabulary!
    var results: [Prediction] = []
    if prompts.isEmpty {
      let prior = Self.prior(inference, top: top)
      results.append(Prediction(prompt: "", tokens: [], next: prior))
      for candidate in prior.prefix(3) {
        results.append(
          try Self.predict(inference, ids: [candidate.id], prompt: vocabulary[candidate.id], top: top))
      }
    } else {
      for prompt in prompts {
        let ids: [Int]
        do {
          ids = try inference.encode(prompt)
        } catch {
          guard case .unknownTokens(let unknown) = error else { throw .runtime(error) }
          throw .prompt(
            prompt,
            reason: "these words are not in the vocabulary: " + unknown.prefix(10).joined(separator: ", "))
        }
        guard !ids.isEmpty else { throw .prompt(prompt, reason: "it holds no token") }
        results.append(try Self.predict(inference, ids: ids, prompt: prompt, top: top))
      }
    }
    predictions = results
    predictionNote = nil
  }

  static func predict(_ inference: InferenceModel, ids: [Int], prompt: String, top: Int) throws(ReportError)
    -> Prediction
  {
    do {
      let next = try inference.predictNext(tokens: ids, topK: top)
      let vocabulary = inference.model.vocabulary
      return Prediction(prompt: prompt, tokens: ids.map { vocabulary?[$0] ?? "#\($0)" }, next: next)
    } catch {
      throw .runtime(error)
    }
  }

  /// The distribution at h_0 = 0: softmax (or sigmoid) of c, through the runtime's session.
  static func prior(_ inference: InferenceModel, top: Int) -> [TokenProbability] {
    let session = InferenceSession(model: inference)
    var p = session.logits().map(Double.init)
    if inference.model.outputActivation == .sigmoid {
      p = p.map { 1 / (1 + exp(-$0)) }
    } else {
      let largest = p.max() ?? 0
      let e = p.map { exp($0 - largest) }
      let sum = e.reduce(0, +)
      p = e.map { $0 / sum }
    }
    let vocabulary = inference.outputVocabulary
    // NaN ranks last, so the order stays total.
    let key = p.map { $0.isNaN ? -Double.infinity : $0 }
    return p.indices.sorted { key[$0] > key[$1] || (key[$0] == key[$1] && $0 < $1) }.prefix(top).map {
      TokenProbability(id: $0, token: vocabulary?[$0], probability: Float(p[$0]))
    }
  }

  func html(maxListed: Int) -> String {
    var out = ""
    if let vocabulary = model.vocabulary {
      let listed = min(vocabulary.count, maxListed)
      out += "<h3>Tokens</h3><p>\(HTML.integer(vocabulary.count)) tokens, numbered by id"
      out += listed < vocabulary.count ? "; the first \(HTML.integer(listed)) are listed.</p>" : ".</p>"
      out += "<ol class=\"vocab\" start=\"0\">"
      for id in 0..<listed { out += "<li>\(HTML.text(vocabulary[id]))</li>" }
      out += "</ol>"
    } else {
      out += "<p>This model takes dense inputs and has no vocabulary.</p>"
    }
    out += "<h3>Most likely next tokens</h3>"
    if let predictionNote {
      return out + "<p>\(HTML.escape(predictionNote))</p>"
    }
    out += "<div class=\"figures\">"
    for prediction in predictions {
      out += "<figure class=\"tokens\">"
      if prediction.tokens.isEmpty {
        out += "<p><b>Empty prompt</b> (h<sub>0</sub> = 0: the prior g(c))</p>"
      } else {
        out +=
          "<p><b>After</b> " + prediction.tokens.map { "<code>\(HTML.text($0))</code>" }.joined() + "</p>"
      }
      out += HTML.table(
        header: ["token", "id", "probability"],
        rows: prediction.next.map { p in
          [
            "<code>\(HTML.text(p.token ?? "#\(p.id)"))</code>", String(p.id),
            HTML.number(Double(p.probability), digits: 4),
          ]
        })
      out += "</figure>"
    }
    return out + "</div>"
  }
}

#if canImport(Glibc)
  import Glibc
#else
  import Foundation
#endif
