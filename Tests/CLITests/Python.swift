import Foundation
import TestSupport

/// Runs the repository's Python helpers. A failing script (a missing module included) throws, so
/// the test fails rather than skipping.
enum Python {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Runs `python3 scripts/<script> arguments…` through the shared runner (both pipes read at
  /// once) and returns what it printed to stdout.
  @discardableResult
  static func run(_ script: String, _ arguments: [String]) throws -> String {
    let result = try PythonClient.run(script: "scripts/" + script, arguments)
    guard result.status == 0, result.reason == .exit else {
      throw Failure(
        description:
          "python3 \(script) \(arguments.joined(separator: " ")) failed: \(result.stderrText.suffix(4000))")
    }
    return result.stdoutText
  }
}
