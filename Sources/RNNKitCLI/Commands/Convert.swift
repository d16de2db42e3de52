import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit convert`.
struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit convert is not implemented yet") }
}
