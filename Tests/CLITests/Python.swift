import Foundation

/// Runs the repository's Python helpers. A failing script (a missing module included) throws, so
/// the test fails rather than skipping.
enum Python {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts")

  /// Runs `python3 scripts/<script> arguments…` and returns what it printed to stdout.
  @discardableResult
  static func run(_ script: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", scripts.appendingPathComponent(script).path] + arguments
    // stderr goes to a file, so a chatty script can never block on a pipe nobody reads.
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-cli-py-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
      throw Failure(
        description: "python3 \(script) \(arguments.joined(separator: " ")) failed: \(stderr.suffix(4000))")
    }
    return String(decoding: stdout, as: UTF8.self)
  }
}
