import ArgumentParser
import RNNKit

@main
struct RNNKitCommand: ParsableCommand {
  static func main() {
    BLASRestart.restartIfUseful()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exit(withError: Advice.adding(to: error))
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
      Score.self, Train.self, Report.self, ReadIsolated.self,
    ])
}
