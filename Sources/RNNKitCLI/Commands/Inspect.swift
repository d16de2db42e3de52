import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit inspect`.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit inspect is not implemented yet") }
}
