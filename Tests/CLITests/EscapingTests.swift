import Foundation
import Testing

/// Names and values from a file reach error messages escaped: a layer name or attribute holding a
/// line break and a terminal escape (ESC [2K erases the line) cannot forge or hide output.
@Suite struct EscapingTests {
  let folder: URL
  init() throws { folder = try CLI.temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  static let hostile = "x\n\u{1b}[2Kall good"
  static let escaped = #"x\u{a}\u{1b}[2Kall good"#

  func expectEscaped(_ arguments: [String], _ expected: String) throws {
    let result = try CLI.run(arguments)
    #expect(result.status == 1, "\(result.stderr)")
    let line = result.stderr.dropLast(result.stderr.hasSuffix("\n") ? 1 : 0)
    #expect(!line.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }), "\(line)")
    #expect(line.contains(expected), "\(line)")
  }

  func h5(_ name: String, format: String) throws -> String {
    let file = path(name)
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), file, "--to", format]).status == 0)
    return file
  }

  @Test func anAttributeValue() throws {
    let file = try h5("value.h5", format: "hdf5")
    try Python.run("hostile/hdf5_tamper.py", ["set-strings", file, "/", "hidden_activation", Self.hostile])
    try expectEscaped(
      ["inspect", file], "attribute \"hidden_activation\": \"\(Self.escaped)\" is not a known activation")
  }

  @Test func aLayerName() throws {
    let file = try h5("layer.h5", format: "keras-h5")
    let config =
      #"{"class_name": "Sequential", "config": {"layers": [{"class_name": "LSTM", "config": {"name": "x\u000a\u001b[2Kall good"}}]}}"#
    try Python.run("hostile/hdf5_tamper.py", ["set-strings", file, "/", "model_config", config])
    try expectEscaped(
      ["convert", file, path("out.rnn"), "--vocab", try vocabulary()], "layer \"\(Self.escaped)\"")
  }

  @Test func aDatasetPath() throws {
    let file = try h5("path.h5", format: "keras-h5")
    try Python.run(
      "hostile/hdf5_tamper.py",
      ["set-strings", file, "model_weights/dense", "weight_names", "dense/\(Self.hostile)", "dense/bias"])
    try expectEscaped(
      ["convert", file, path("out.rnn"), "--vocab", try vocabulary()],
      "/model_weights/dense/dense/\(Self.escaped) is missing")
  }

  @Test func aZipMemberName() throws {
    let weights = try h5("model.weights.h5", format: "keras-weights")
    let config = path("config.json")
    try #"{"class_name": "Sequential", "config": {"layers": []}}"#.write(
      toFile: config, atomically: true, encoding: .utf8)
    let archive = path("m.keras")
    try Python.run("hostile/hdf5_tamper.py", ["archive", archive, config, weights])
    // The "é" makes Python mark the name as UTF-8, so it reaches the message as written.
    try Python.run("hostile/hdf5_tamper.py", ["append", archive, "é" + Self.hostile, config])
    try expectEscaped(
      ["inspect", archive], "\(archive): entry \"é\(Self.escaped)\": has a control character in its name")
  }

  func vocabulary() throws -> String {
    let file = path("vocab.txt")
    try (0..<8).map { "w\($0)\n" }.joined().write(toFile: file, atomically: true, encoding: .utf8)
    return file
  }
}
