import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit forward`.
struct Forward: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit forward is not implemented yet") }
}
