import ArgumentParser
import Foundation
import RNNKit

struct Forward: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the forward pass and print h_t and y_t for every step.",
    discussion: """
      Give the input as token ids (--ids 3,1,4), as text (--text "…", split by the model's tokenizer) or \
      as a JSON file (--inputs FILE.json) holding a list of token ids or a list of float vectors. \
      --json prints {"tokens": [ids], "hidden": [[h] per step], "output": [[y] per step]}; "tokens" is \
      left out for dense inputs.

      Example: rnnkit forward Fixtures/cuisine.rnn --text "my favourite dish is" --json
      """)

  @Argument(help: "The model file (- reads standard input).", completion: .file())
  var model: String

  @Option(help: "Comma-separated token ids, such as 3,1,4.")
  var ids: String?

  @Option(help: "Text, split into tokens by the model's tokenizer.")
  var text: String?

  @Option(help: "A JSON file with a list of token ids or a list of float vectors.", completion: .file())
  var inputs: String?

  @Flag(help: "Print JSON.")
  var json = false

  @OptionGroup var input: ModelInputOptions

  @OptionGroup var unknownWords: UnknownWords

  func validate() throws {
    let given = [ids, text, inputs].compactMap { $0 }.count
    guard given == 1 else { throw ValidationError("give exactly one of --ids, --text and --inputs") }
    if let ids {
      do { _ = try RuntimeCommand.parseIDs(ids) } catch { throw ValidationError("\(error)") }
    }
  }

  func run() throws {
    let runtime = try RuntimeCommand.prepare(model, input: input)
    let result: ForwardResult
    var tokens: [Int]?
    if let ids {
      tokens = try RuntimeCommand.parseIDs(ids)
    } else if let text {
      tokens = try RuntimeCommand.encode(text, runtime: runtime, path: model, strict: unknownWords.strict)
    }
    if let tokens {
      result = try RuntimeCommand.run(model) { () throws(RuntimeError) in try runtime.forward(tokens: tokens)
      }
    } else {
      let path = inputs!
      switch try RuntimeCommand.readInputs(path) {
      case .tokens(let list):
        tokens = list
        result = try RuntimeCommand.run(model) { () throws(RuntimeError) in try runtime.forward(tokens: list)
        }
      case .vectors(let vectors):
        result = try RuntimeCommand.run(model) { () throws(RuntimeError) in
          try runtime.forward(vectors: vectors)
        }
      }
    }
    if json {
      var fields: [(String, JSON)] = []
      if let tokens { fields.append(("tokens", .array(tokens.map(JSON.int)))) }
      fields.append(("hidden", .array(result.hidden.map(RuntimeCommand.numbers))))
      fields.append(("output", .array(result.outputs.map(RuntimeCommand.numbers))))
      print(JSON.object(fields).rendered())
      return
    }
    let vocabulary = runtime.model.vocabulary
    for (t, (h, y)) in zip(result.hidden, result.outputs).enumerated() {
      var header = "step \(t)"
      if let tokens {
        header += ": token \(tokens[t])"
        if let vocabulary { header += " " + RuntimeCommand.quoted(vocabulary[tokens[t]]) }
      }
      print(header)
      print("  h: " + h.map { "\($0)" }.joined(separator: " "))
      print("  y: " + y.map { "\($0)" }.joined(separator: " "))
    }
  }
}

/// What the runtime commands share: loading, input parsing, error wording and number output.
enum RuntimeCommand {
  /// Loads `path` in any known format and prepares it for inference.
  static func prepare(_ path: String, input: ModelInputOptions) throws -> InferenceModel {
    // The runtime verifies what it reads before it reads it, so opening checks only small tensors.
    let model = try input.load(path, verifyOnFirstUse: true)
    return try run(path) { () throws(RuntimeError) in try InferenceModel(model) }
  }

  /// Runs `body`, turning a runtime error into one line that names the model file.
  static func run<T>(_ path: String, _ body: () throws(RuntimeError) -> T) throws -> T {
    do {
      return try body()
    } catch {
      throw CLIError("\(path): \(error)")
    }
  }

  static func parseIDs(_ list: String) throws -> [Int] {
    let parts = list.split(separator: ",", omittingEmptySubsequences: false)
    return try parts.enumerated().map { position, part in
      let trimmed = part.trimmingCharacters(in: .whitespaces)
      guard let id = Int(trimmed) else {
        throw CLIError("--ids: \"\(trimmed)\" at position \(position) is not an integer token id")
      }
      return id
    }
  }

  static func encode(_ text: String, runtime: InferenceModel, path: String, strict: Bool) throws -> [Int] {
    try UnknownWords.report(in: text, model: runtime.model, strict: strict)
    return try run(path) { () throws(RuntimeError) in
      let ids = try runtime.encode(text)
      guard !ids.isEmpty else { throw .emptyInput }
      return ids
    }
  }

  enum Inputs {
    case tokens([Int])
    case vectors([[Float]])
  }

  /// Reads a JSON list of token ids, or a list of lists of numbers.
  static func readInputs(_ path: String) throws -> Inputs {
    try InputPath.check(path)
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw CLIError("\(path): cannot read the file (\(error.localizedDescription))")
    }
    // Decoding is strict: ids must be integers, vectors lists of numbers (no strings or booleans).
    let decoder = JSONDecoder()
    if let ids = try? decoder.decode([Int].self, from: data) {
      guard !ids.isEmpty else { throw CLIError("\(path): the input list is empty") }
      return .tokens(ids)
    }
    if let vectors = try? decoder.decode([[Float]].self, from: data) {
      guard !vectors.isEmpty else { throw CLIError("\(path): the input list is empty") }
      return .vectors(vectors)
    }
    throw CLIError("\(path): expected a JSON list of integer token ids or a list of lists of numbers")
  }

  /// JSON numbers with the float's shortest decimal form (0.1, not 0.10000000149011612).
  static func numbers(_ values: [Float]) -> JSON {
    .array(values.map { number($0) })
  }

  static func number(_ value: Float) -> JSON {
    guard value.isFinite else { return .number(Double(value)) }
    return .number(Double("\(value)") ?? Double(value))
  }

  static func quoted(_ token: String) -> String {
    "\""
      + token.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n") + "\""
  }
}
