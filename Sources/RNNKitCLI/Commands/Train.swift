import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit train`.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit train is not implemented yet") }
}
