import ArgumentParser
import RNNKit

// Placeholder: replaced by the issue that implements `rnnkit diff`.
struct Diff: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Not implemented yet.")
  func run() throws { throw CLIError("rnnkit diff is not implemented yet") }
}
