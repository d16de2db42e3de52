import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit generate`.
struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit generate is not implemented yet") }
}
