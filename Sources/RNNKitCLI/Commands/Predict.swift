import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit predict`.
struct Predict: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit predict is not implemented yet") }
}
