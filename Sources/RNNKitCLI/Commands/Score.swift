import ArgumentParser
import Foundation
import RNNKit

struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the cross-entropy and perplexity of a text file under the model.",
    discussion: """
      Each non-empty line is one sequence, as in `rnnkit train`: the hidden state starts at zero on
      every line, and every token after a line's first is predicted from the ones before it on that
      line. --continuous scores the whole file as one sequence instead. Cross-entropy is in nats per
      predicted token (bits in parentheses), over all lines.
      --json adds the log-probability of every predicted token, in file order.
      """)

  @Argument(help: "The model file.")
  var model: String

  @Argument(help: "A UTF-8 text file.")
  var file: String

  @Flag(help: "Print JSON.")
  var json = false

  @Flag(help: "Score the whole file as one sequence, carrying the hidden state across lines.")
  var continuous = false

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
    let lines = continuous ? [Substring(text)] : text.split(whereSeparator: \.isNewline)
    var sequences: [[Int]] = []
    var tokenCount = 0
    for (index, line) in lines.enumerated() {
      let ids: [Int]
      do {
        ids = try runtime.encode(String(line))
      } catch {
        throw CLIError("\(file)\(continuous ? "" : " line \(index + 1)"): \(error)")
      }
      tokenCount += ids.count
      // A line of one token has nothing to predict.
      if ids.count >= 2 { sequences.append(ids) }
    }
    guard !sequences.isEmpty else {
      throw CLIError(
        "\(file): no \(continuous ? "text" : "line") has the 2 tokens that scoring needs (one is given, one predicted)"
      )
    }
    let scores = try RuntimeCommand.run(model) { () throws(RuntimeError) in
      try runtime.score(batch: sequences)
    }
    let result = ScoreResult(logProbabilities: scores.flatMap(\.logProbabilities))
    let tokens = (count: tokenCount, sequences: sequences.count)
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
