import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit validate`.
struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit validate is not implemented yet") }
}
