import ArgumentParser
import Foundation
import RNNKit

struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the cross-entropy and perplexity of a text file under the model.",
    discussion: """
      The text is split by the model's tokenizer; every token after the first is predicted from the
      ones before it. Cross-entropy is in nats per token (bits in parentheses).
      --json adds the log-probability of every predicted token.
      """)

  @Argument(help: "The model file.")
  var model: String

  @Argument(help: "A UTF-8 text file.")
  var file: String

  @Flag(help: "Print JSON.")
  var json = false

  @OptionGroup var input: ModelInputOptions

  func run() throws {
    let runtime = try RuntimeCommand.prepare(model, input: input)
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: file))
    } catch {
      throw CLIError("\(file): cannot read the file (\(error.localizedDescription))")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw CLIError("\(file): not valid UTF-8 text")
    }
    let tokens: [Int]
    do {
      tokens = try runtime.encode(text)
    } catch {
      throw CLIError("\(file): \(error)")
    }
    guard tokens.count >= 2 else {
      throw CLIError("\(file): has \(tokens.count) token(s); scoring needs at least 2")
    }
    let result = try RuntimeCommand.run(model) { () throws(RuntimeError) in try runtime.score(tokens: tokens)
    }
    if json {
      print(
        JSON.object([
          ("tokens", .int(tokens.count)), ("predicted", .int(result.predictedTokens)),
          ("cross_entropy", .number(result.crossEntropy)), ("perplexity", .number(result.perplexity)),
          ("log_probabilities", .array(result.logProbabilities.map(JSON.number))),
        ]).rendered())
      return
    }
    print("tokens: \(tokens.count) (\(result.predictedTokens) predicted)")
    print("cross-entropy: \(result.crossEntropy) nats/token (\(result.crossEntropy / log(2)) bits)")
    print("perplexity: \(result.perplexity)")
  }
}
