import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit score`.
struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit score is not implemented yet") }
}
