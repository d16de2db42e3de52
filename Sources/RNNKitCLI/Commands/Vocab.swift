import ArgumentParser
import RNNKit

struct Vocab: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print a model's vocabulary, one token per line in id order, as --vocab reads it.",
    discussion: """
      Keeps the vocabulary of a model before exporting it to a format that stores none.

      Example: rnnkit vocab Fixtures/cuisine.rnn > vocab.txt
      """)

  @Argument(help: "The model file (- reads standard input).", completion: .file())
  var model: String

  @OptionGroup var input: ReadingOptions

  func run() throws {
    let loaded = try ModelSource.read(
      path: model, format: input.format, options: input.importOptions(), isolate: !input.trustInput)
    guard let vocabulary = loaded.model.vocabulary else {
      throw CLIError("\(displaySafe(model)): has no vocabulary (its inputs are dense vectors)")
    }
    var lines: [String] = []
    lines.reserveCapacity(vocabulary.count)
    for id in 0..<vocabulary.count {
      let token = vocabulary[id]
      if token.contains(where: \.isNewline) || token.isEmpty {
        throw CLIError(
          "\(displaySafe(model)): token \(id) (\(Text.quoted(token))) is empty or holds a line break, which a vocabulary file cannot hold"
        )
      }
      lines.append(token)
    }
    print(lines.joined(separator: "\n"))
  }
}
