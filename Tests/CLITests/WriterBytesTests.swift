import Foundation
import RNNKit
import Testing

/// Every large writer streams its output in chunks, with write-behind when the file is durable.
/// That must not change a byte: a 21 MB model (two tensors over the 8 MiB write-behind step, with
/// short last chunks) converted to each format gives the file the writers gave before they
/// streamed, identified by its XXH64. A deliberate change of a writer's output changes its value
/// here; nothing else may.
@Suite struct WriterBytesTests {
  /// XXH64 of `rnnkit convert model.rnn out.EXTENSION`, as the writers produced it before they
  /// streamed (the same conversions by a build of the commit before).
  static let expected: [(extension: String, format: String, hash: UInt64)] = [
    ("safetensors", "safetensors", 0x5d4b_2bf6_c7fa_f5b4),
    ("npz", "npz", 0x196b_5d57_6614_6da5),
    ("pt", "pytorch", 0x3952_2225_d6b4_124e),
    ("onnx", "onnx", 0xbdb9_bdc1_38c2_b8ed),
  ]

  /// H 256, a vocabulary of 10,000 tokens: W 256×10,256 and V 10,000×256 in f32 (10.5 and
  /// 10.2 MB), values from a fixed seed.
  func model() throws -> ElmanModel {
    let (hidden, vocabulary) = (256, 10_000)
    var random = SplitMix64(seed: 17)
    func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(random.nextUnit() - 0.5) } }
    return try ElmanModel(
      W: Parameter(values(hidden * (hidden + vocabulary)), shape: [hidden, hidden + vocabulary]),
      b: Parameter(values(hidden), shape: [hidden]),
      V: Parameter(values(vocabulary * hidden), shape: [vocabulary, hidden]),
      c: Parameter(values(vocabulary), shape: [vocabulary]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: Vocabulary(["<unk>"] + (1..<vocabulary).map { "t\($0)" }))
  }

  @Test func largeOutputsAreTheBytesTheWritersGaveBefore() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = folder.appendingPathComponent("model.rnn").path
    try RNNFileFormat().write(try model(), to: input, options: ExportOptions())
    for (fileExtension, format, hash) in Self.expected {
      let output = folder.appendingPathComponent("out.\(fileExtension)").path
      let result = try CLI.run(["convert", input, output])
      #expect(result.status == 0, "\(format): \(result.stderr)")
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))
      #expect(bytes.count > 16 << 20, "\(format): \(bytes.count) bytes")
      let actual = XXH64.hash(bytes)
      #expect(
        actual == hash, "\(format): XXH64 \(String(actual, radix: 16)), expected \(String(hash, radix: 16))")
      // Standard output is written through a scratch file, without write-behind: the same bytes.
      let piped = try CLI.run(["convert", input, "-", "--to", format])
      #expect(piped.status == 0, "\(format) to standard output: \(piped.stderr)")
      // Compared outside #expect, which would diff 20 MB on a mismatch.
      let same = piped.stdoutData == Data(bytes)
      #expect(same, "\(format): standard output differs from the file")
    }
  }
}
