import ArgumentParser
import Foundation
import RNNKit

struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the cross-entropy and perplexity of a text file under the model.",
    discussion: """
      Each non-empty line is one sequence, as in `rnnkit train`: the hidden state starts at zero on \
      every line, and every token after a line's first is predicted from the ones before it on that \
      line. --continuous scores the whole file as one sequence instead. Cross-entropy is in nats per \
      predicted token (bits in parentheses), over all lines. \
      --json adds the log-probability of every predicted token, in file order.

      Example: rnnkit score Fixtures/cuisine.rnn Fixtures/corpus/cuisine.txt
      """)

  @Argument(help: "The model file.", completion: .file())
  var model: String

  @Argument(help: "A UTF-8 text file (- reads standard input).", completion: .file())
  var file: String

  @Flag(help: "Print JSON.")
  var json = false

  @Flag(help: "Score the whole file as one sequence, carrying the hidden state across lines.")
  var continuous = false

  @OptionGroup var input: ModelInputOptions

  @OptionGroup var unknownWords: UnknownWords

  func run() throws {
    try InputPath.check(file)
    let runtime = try RuntimeCommand.prepare(model, input: input)
    let text: String
    do {
      text = try Corpus.readText(path: file == InputPath.standardStream ? "/dev/stdin" : file)
    } catch {
      if case .corpusNotUTF8(_, let offset) = error {
        throw CLIError("\(file): not valid UTF-8 text (first bad byte at offset \(offset))")
      }
      throw CLIError("\(file): cannot read the file (\(error))")
    }
    try UnknownWords.report(in: text, model: runtime.model, strict: unknownWords.strict)
    let scored: TextScore
    do {
      scored = try runtime.score(text: text, perLine: !continuous)
    } catch {
      throw CLIError("\(file): \(error)")
    }
    let result = scored.result
    let tokens = (count: scored.tokens, sequences: scored.sequences)
    if json {
      print(
        JSON.object([
          ("tokens", .int(tokens.count)), ("sequences", .int(tokens.sequences)),
          ("predicted", .int(result.predictedTokens)),
          ("cross_entropy", .number(result.crossEntropy)), ("perplexity", .number(result.perplexity)),
          ("log_probabilities", .array(result.logProbabilities.map(JSON.number))),
        ]).rendered())
      return
    }
    print("tokens: \(tokens.count) in \(tokens.sequences) sequence(s) (\(result.predictedTokens) predicted)")
    print("cross-entropy: \(result.crossEntropy) nats/token (\(result.crossEntropy / log(2)) bits)")
    print("perplexity: \(result.perplexity)")
  }
}
