import Foundation
import TestSupport

/// Runs the built `rnnkit` binary and captures what it prints.
enum CLI {
  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Standard output as bytes, for commands that write a model there.
    var stdoutData = Data()
  }

  /// The `rnnkit` executable next to the test bundle (SwiftPM builds both into the same folder).
  static let binary: URL = {
    var folder = Bundle.main.bundleURL
    if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("rnnkit").path) {
      folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
    for candidate in [folder, folder.deletingLastPathComponent()] {
      let url = candidate.appendingPathComponent("rnnkit")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return folder.appendingPathComponent("rnnkit")
  }()

  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

  static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

  /// The repository root.
  static var root: URL { fixtures.deletingLastPathComponent() }

  /// Runs `rnnkit arguments…` with this process's environment, changed by `environment` and without
  /// the variables in `removing`.
  @discardableResult
  static func run(
    _ arguments: [String], stdin: String? = nil, stdinFile: String? = nil,
    environment: [String: String] = [:], removing: Set<String> = []
  ) throws -> Result {
    let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
      .filter { !removing.contains($0.key) }
    // Both output pipes are drained at once, so no amount of output can block the child.
    let input =
      try stdinFile.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? stdin.map { Data($0.utf8) }
    let result = try ChildProcess.run(binary, arguments, environment: variables, stdin: input)
    return Result(
      status: result.status, stdout: result.stdoutText, stderr: result.stderrText, stdoutData: result.stdout)
  }

  /// A fresh temporary folder, removed by the caller.
  static func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}
