import Foundation
import TestSupport
import Testing

/// The command lines the documentation shows run, and exit as the documentation says; the synopses
/// of docs/CLI.md name only options `--help` lists.
@Suite struct DocumentationExamplesTests {
  static func read(_ name: String) throws -> String {
    try String(contentsOf: CLI.root.appendingPathComponent(name), encoding: .utf8)
  }

  /// Lines of fenced blocks: `sh` blocks give commands to run, other blocks give synopses.
  static func blocks(_ text: String) -> [(sh: Bool, lines: [String])] {
    var result: [(Bool, [String])] = []
    var current: (Bool, [String])?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
      if line.hasPrefix("```") {
        if let block = current {
          result.append(block)
          current = nil
        } else {
          current = (line == "```sh", [])
        }
      } else if current != nil {
        current!.1.append(line)
      }
    }
    return result
  }

  /// Every `rnnkit …` line of every `sh` block of README.md and docs/CLI.md, run from a folder that
  /// links to Fixtures/, in order; `# exits N` in its comment says the status it documents.
  @Test(arguments: ["README.md", "docs/CLI.md"])
  func everyExampleRunsAsDocumented(document: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createSymbolicLink(
      at: folder.appendingPathComponent("Fixtures"), withDestinationURL: CLI.fixtures)
    let examples = Self.blocks(try Self.read(document)).filter(\.sh).flatMap(\.lines)
      .filter { $0.hasPrefix("rnnkit ") }
    #expect(examples.count >= 10, "\(document): \(examples.count) examples")
    for line in examples {
      var expected: Int32 = 0
      if let range = line.range(of: "# exits ") {
        expected = Int32(line[range.upperBound...].prefix { $0.isNumber }) ?? -1
      }
      var environment = ProcessInfo.processInfo.environment
      environment["PATH"] = CLI.binary.deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "")
      let result = try ChildProcess.run(
        URL(fileURLWithPath: "/bin/sh"), ["-c", "cd \"$0\" && " + line, folder.path], environment: environment
      )
      #expect(result.status == expected, "\(document): \(line)\n\(result.stderrText)")
    }
  }

  /// Each synopsis line `rnnkit COMMAND …` (and its continuation lines) names only options that
  /// `rnnkit COMMAND --help` lists.
  @Test func synopsesMatchHelp() throws {
    var synopses: [String: String] = [:]
    var command: String?
    for block in Self.blocks(try Self.read("docs/CLI.md")) where !block.sh {
      for line in block.lines {
        if line.hasPrefix("rnnkit ") {
          command = line.split(separator: " ").dropFirst().first.map(String.init)
          if let command { synopses[command, default: ""] += line + " " }
        } else if line.hasPrefix(" "), let command {
          synopses[command, default: ""] += line + " "
        } else {
          command = nil
        }
      }
    }
    #expect(synopses.count >= 9, "\(synopses.keys.sorted())")
    for (command, synopsis) in synopses {
      let help = try CLI.run([command, "--help"])
      #expect(help.status == 0, "\(command): \(help.stderr)")
      let flags = synopsis.split(whereSeparator: { !$0.isLetter && $0 != "-" }).filter { $0.hasPrefix("--") }
      for flag in flags {
        #expect(help.stdout.contains(flag), "docs/CLI.md: rnnkit \(command) \(flag) is not in --help")
      }
    }
  }
}
