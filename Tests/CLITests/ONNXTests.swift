import Foundation
import Testing

/// `rnnkit` with ONNX files: conversion both ways with verification, tf2onnx files, and one-line
/// errors that name the flag to use.
@Suite struct ONNXTests {
  @Test func convertsBothWaysWithVerification() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let onnx = folder.appendingPathComponent("m.onnx").path
    let to = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), onnx, "--verify"])
    #expect(to.status == 0, "\(to.stderr)")
    let back = folder.appendingPathComponent("back.rnn").path
    let from = try CLI.run(["convert", onnx, back, "--verify"])
    #expect(from.status == 0, "\(from.stderr)")
    #expect(from.stdout.contains("(onnx) -> "))
    let diff = try CLI.run(["diff", CLI.fixture("token-f32.rnn"), back])
    #expect(diff.status == 0 && diff.stdout.contains("equal within 0"), "\(diff.stdout)")
    let any = folder.appendingPathComponent("m.bin").path
    #expect(try CLI.run(["convert", CLI.fixture("dense-f32.rnn"), any, "--to", "onnx"]).status == 0)
    #expect(try CLI.run(["inspect", any]).stdout.contains("onnx"))
  }

  /// A tf2onnx file (a Keras SimpleRNN as a Loop) converts with verification once given the
  /// vocabulary tf2onnx does not store; without it, the error names the flag.
  @Test func convertsATF2ONNXFile() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = CLI.fixture("tf2onnx-tokens-timedistributed.onnx")
    let vocabulary = folder.appendingPathComponent("vocab.txt").path
    try (0..<9).map { "t\($0)\n" }.joined().write(toFile: vocabulary, atomically: true, encoding: .utf8)
    let out = folder.appendingPathComponent("m.rnn").path
    let converted = try CLI.run(["convert", source, out, "--vocab", vocabulary, "--verify"])
    #expect(converted.status == 0 && converted.stdout.contains("H 6, X 9, O 9"), "\(converted.stderr)")
    let missing = try CLI.run(["convert", source, folder.appendingPathComponent("n.rnn").path])
    #expect(missing.status != 0 && missing.stderr.contains("--vocab"), "\(missing.stderr)")
  }

  @Test func errorsAreOneLineAndNameTheFlag() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("bad.onnx").path
    try Data([0x08, 0x08, 0x3A, 0xC8, 0x01]).write(to: URL(fileURLWithPath: path))
    let result = try CLI.run(["validate", path])
    let message = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(
      result.status == 1 && !message.contains("\n") && message.contains("runs past the end"), "\(message)")
    let exists = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), path])
    #expect(exists.status != 0 && exists.stderr.contains("--force"), "\(exists.stderr)")
  }
}
