import ArgumentParser
import RNNKit

struct Predict: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the next-token distribution after a text: token, id and probability, best first.",
    discussion: """
      The probabilities are softmax(V·h_T + c) for models with a softmax or identity output, and the \
      sigmoid outputs themselves for sigmoid models.

      Example: rnnkit predict Fixtures/cuisine.rnn 'My favourite dish is sushi. So, my favourite cuisine is' --top 5
      """)

  @Argument(help: "The model file (- reads standard input).", completion: .file())
  var model: String

  @Argument(help: "The text so far.")
  var text: String

  @Option(parsing: .unconditional, help: "How many tokens to list.")
  var top = 10

  @Flag(help: "Print JSON: {\"tokens\": [ids], \"predictions\": [{\"token\", \"id\", \"probability\"}]}.")
  var json = false

  @OptionGroup var input: ModelInputOptions

  @OptionGroup var unknownWords: UnknownWords

  func validate() throws {
    guard top >= 1 else { throw ValidationError("--top must be at least 1, not \(top)") }
  }

  func run() throws {
    let runtime = try RuntimeCommand.prepare(model, input: input)
    let tokens = try RuntimeCommand.encode(text, runtime: runtime, path: model, strict: unknownWords.strict)
    let predictions = try RuntimeCommand.run(model) { () throws(RuntimeError) in
      try runtime.predictNext(tokens: tokens, topK: top)
    }
    if json {
      let entries = predictions.map { p in
        JSON.object([
          ("token", p.token.map(JSON.string) ?? .null), ("id", .int(p.id)),
          ("probability", RuntimeCommand.number(p.probability)),
        ])
      }
      print(
        JSON.object([("tokens", .array(tokens.map(JSON.int))), ("predictions", .array(entries))]).rendered())
      return
    }
    let labels = predictions.map { $0.token.map(RuntimeCommand.quoted) ?? "-" }
    let width = max(5, labels.map(\.count).max() ?? 0)
    let idWidth = max(2, predictions.map { String($0.id).count }.max() ?? 0)
    print(pad("token", width) + "  " + pad("id", idWidth) + "  probability")
    for (p, label) in zip(predictions, labels) {
      print(pad(label, width) + "  " + pad(String(p.id), idWidth) + "  \(p.probability)")
    }
  }

  private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
  }
}
