import ArgumentParser
import RNNKit

@main
struct RNNKitCommand: ParsableCommand {
  static func main() {
    do {
      try CommandSuggestion.refuseMisspelledCommand(Array(CommandLine.arguments.dropFirst()))
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let error = Advice.adding(to: error)
      // Messages name the copy of standard input by its place in /proc; say what it is.
      if InputPath.usedStandardInput, !(error is ValidationError) {
        exit(withError: CLIError(InputPath.displayName(in: message(for: error))))
      }
      exit(withError: error)
    }
  }

  static let configuration = CommandConfiguration(
    commandName: "rnnkit",
    abstract: "Inspect, convert, validate, run and train simple (Elman) recurrent networks.",
    discussion: """
      Formats:
      \(FormatHelp.table)
      Every command that reads a model accepts every format `convert` reads.
      See docs/CLI.md for a guide.
      """,
    version: rnnkitVersion,
    subcommands: [
      Inspect.self, Validate.self, Diff.self, Convert.self, Forward.self, Predict.self, Generate.self,
      Score.self, Train.self, Report.self, Vocab.self, ReadIsolated.self,
    ])
}

/// swift-argument-parser suggests options but not commands: `rnnkit inpect` gets `inspect`.
enum CommandSuggestion {
  static func refuseMisspelledCommand(_ arguments: [String]) throws {
    guard let word = arguments.first, !word.hasPrefix("-") else { return }
    let all = RNNKitCommand.configuration.subcommands
    guard !(all.map { $0._commandName } + ["help"]).contains(word) else { return }
    let names = all.filter { $0.configuration.shouldDisplay }.map { $0._commandName } + ["help"]
    let near = names.map { (name: $0, distance: distance($0, word)) }.min { $0.distance < $1.distance }
    if let near, near.distance <= 2 {
      throw ValidationError("unknown command '\(word)'; did you mean '\(near.name)'?")
    }
    throw ValidationError(
      "unknown command '\(word)'; the commands are \(names.dropLast().joined(separator: ", "))")
  }

  /// Levenshtein distance.
  static func distance(_ a: String, _ b: String) -> Int {
    let (x, y) = (Array(a), Array(b))
    var row = Array(0...y.count)
    for i in 1...max(x.count, 1) where !x.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in 1...max(y.count, 1) where !y.isEmpty {
        let current = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
        previous = current
      }
    }
    return row[y.count]
  }
}
