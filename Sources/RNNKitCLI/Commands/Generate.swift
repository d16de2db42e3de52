import ArgumentParser
import RNNKit

struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Continue a prompt with tokens drawn from the model.",
    discussion: """
      Each token is drawn from softmax(z / temperature), among the --top-k most likely when given. \
      --temperature 0 (or --top-k 1) always takes the most likely token. The same seed, prompt and \
      model give the same text. Prints the prompt's tokens followed by the new ones. Generation stops \
      at the model's end-of-sequence token (`rnnkit train` adds one unless --no-eos), at --stop or \
      after --max-tokens.

      Example: rnnkit generate Fixtures/cuisine.rnn 'My favourite dish is pizza.' --max-tokens 12 --seed 1
      """)

  @Argument(help: "The model file (- reads standard input).", completion: .file())
  var model: String

  @Argument(help: "The prompt text.")
  var prompt: String

  @Option(parsing: .unconditional, help: "How many tokens to generate.")
  var maxTokens = 20

  @Option(parsing: .unconditional, help: "Sampling temperature; 0 is greedy.")
  var temperature = 1.0

  @Option(parsing: .unconditional, help: "Sample among the K most likely tokens only.")
  var topK: Int?

  @Option(parsing: .unconditional, help: "The seed of the sampler.")
  var seed: UInt64 = 0

  @Option(help: "Stop once the generated text contains this string (it ends the text).")
  var stop: String?

  @Flag(help: "Print JSON: {\"prompt\": [ids], \"generated\": [ids], \"text\": \"…\"}.")
  var json = false

  @OptionGroup var input: ModelInputOptions

  @OptionGroup var unknownWords: UnknownWords

  func validate() throws {
    guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be 0 or more, not \(maxTokens)") }
    guard temperature >= 0, temperature.isFinite else {
      throw ValidationError("--temperature must be a finite number, 0 or more, not \(temperature)")
    }
    if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1, not \(topK)") }
  }

  func run() throws {
    let runtime = try RuntimeCommand.prepare(model, input: input)
    let tokens = try RuntimeCommand.encode(prompt, runtime: runtime, path: model, strict: unknownWords.strict)
    // A model trained with an end-of-sequence token stops there.
    let stopTokens = Set(
      [runtime.model.tokenizer.endOfSequence].compactMap { $0 }.compactMap {
        runtime.model.vocabulary?.id(of: $0)
      })
    let options = GenerationOptions(
      maxTokens: maxTokens, temperature: temperature, topK: topK, seed: seed, stopTokens: stopTokens)
    var (generated, text) = try RuntimeCommand.run(model) { () throws(RuntimeError) in
      let generated = try runtime.generate(prompt: tokens, options: options)
      return (generated, try runtime.decode(tokens + generated))
    }
    if let stop, !stop.isEmpty {
      // Tokens after the first that completes `stop` are dropped; each token depends only on the
      // ones before it, so this is what stopping there would have produced.
      let promptText = try RuntimeCommand.run(model) { () throws(RuntimeError) in try runtime.decode(tokens) }
      for count in 1...max(generated.count, 1) where count <= generated.count {
        let partial = try RuntimeCommand.run(model) { () throws(RuntimeError) in
          try runtime.decode(tokens + generated[..<count])
        }
        let continuation = partial.dropFirst(promptText.count)
        if let range = continuation.range(of: stop) {
          generated = Array(generated[..<count])
          text = String(partial[..<range.upperBound])
          break
        }
      }
    }
    if json {
      print(
        JSON.object([
          ("prompt", .array(tokens.map(JSON.int))), ("generated", .array(generated.map(JSON.int))),
          ("text", .string(text)),
        ]).rendered())
    } else {
      print(text)
    }
  }
}
