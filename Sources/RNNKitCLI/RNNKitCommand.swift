import ArgumentParser
import RNNKit

@main
struct RNNKitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rnnkit",
    abstract: "Inspect, convert, validate, run and train simple (Elman) recurrent networks.",
    discussion: """
      Formats: rnn (native), hdf5 (plain layout), keras-h5, keras-weights, keras, safetensors.
      Every command that reads a model accepts every format `convert` reads.
      See docs/CLI.md for a guide.
      """,
    version: rnnkitVersion,
    subcommands: [
      Inspect.self, Validate.self, Diff.self, Convert.self, Forward.self, Predict.self, Generate.self,
      Score.self, Train.self, ReadIsolated.self,
    ])
}
