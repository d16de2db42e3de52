import Foundation
import Testing

/// The library speaks no CLI: only RNNKitCLI may name a command-line flag in a message. Library
/// errors name a `ModelInput` or a `TrainingParameter` instead, and the CLI maps those to flags.
@Suite struct LibrarySpeaksNoCLITests {
  @Test func noFlagAppearsInALibraryString() throws {
    let sources = CLI.root.appendingPathComponent("Sources")
    let enumerator = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
    var checked = 0
    var offenders: [String] = []
    // A flag inside a string literal: a quote, anything but a quote, then --word after a space, a
    // quote or a backtick. CSS custom properties (`var(--ink)`) are not flags.
    let flag = try Regex(#""[^"\n]*[\s"'`]--[a-z][a-z-]+"#)
    while let url = enumerator?.nextObject() as? URL {
      guard url.pathExtension == "swift", !url.path.contains("/RNNKitCLI/") else { continue }
      checked += 1
      let text = try String(contentsOf: url, encoding: .utf8)
      for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
      where line.contains(flag) && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
        offenders.append(
          "\(url.lastPathComponent):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
      }
    }
    #expect(checked > 20, "found only \(checked) library sources")
    #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
  }
}
