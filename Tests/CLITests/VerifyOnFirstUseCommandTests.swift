import Foundation
import RNNKit
import Testing

/// `rnnkit predict` on a format 1.1 file verifies blocks on first use: a corrupt block of V (read
/// whole for every answer) fails with the file, the tensor and the block named; `validate` still
/// finds it at open; `--skip-checksums` skips both.
@Suite struct VerifyOnFirstUseCommandTests {
  /// A token model over the words "w0", "w1", …, with deterministic weights.
  static func tokenModel(hidden h: Int, vocabulary x: Int) throws -> ElmanModel {
    let weights = { (count: Int, seed: Int) in
      (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.731)) * 0.1 }
    }
    return try ElmanModel(
      W: Parameter(weights(h * (h + x), 1), shape: [h, h + x]), b: Parameter(weights(h, 2), shape: [h]),
      V: Parameter(weights(x * h, 3), shape: [x, h]), c: Parameter(weights(x, 4), shape: [x]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary((0..<x).map { "w\($0)" }),
      tokenizer: TokenizerSettings(level: .word, lowercase: true, splitPunctuation: true, unknownToken: nil))
  }

  @Test func aCorruptBlockFailsPredictNamingTheFileAndTheTensor() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // V is 3,000×100 floats (1.2 MB), so the file is 1.1 and V is verified on first use.
    let (h, x) = (100, 3_000)
    let model = try Self.tokenModel(hidden: h, vocabulary: x)
    let path = folder.appendingPathComponent("m.rnn").path
    try model.write(to: path)
    let good = try CLI.run(["predict", path, "w1 w2 w3", "--top", "2"])
    #expect(good.status == 0, "\(good.stderr)")

    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let v = try #require(try Container.open(path: path).entry(named: "V"))
    bytes[v.offset + 5 * 4096 + 2] ^= 0x20
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let bad = try CLI.run(["predict", path, "w1 w2 w3"])
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("m.rnn"), "\(bad.stderr)")
    #expect(
      bad.stderr.contains("tensor \"V\" block 5 (bytes 20480..<24576) checksum mismatch"), "\(bad.stderr)")
    let validate = try CLI.run(["validate", path])
    #expect(validate.status != 0 && (validate.stdout + validate.stderr).contains("\"V\""))
    let skipped = try CLI.run(["predict", path, "w1 w2 w3", "--skip-checksums"])
    #expect(skipped.status == 0, "\(skipped.stderr)")
  }

  @Test func aCorruptColumnOfWFailsOnlyThePromptsThatUseIt() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // W is 16×20,016 floats (1.3 MB), so the file is 1.1; W_h and these columns are copied out of
    // the file block by block (under half of W's 313 blocks), each block verified.
    let (h, x) = (16, 20_000)
    let model = try Self.tokenModel(hidden: h, vocabulary: x)
    let path = folder.appendingPathComponent("m.rnn").path
    try model.write(to: path)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let w = try #require(try Container.open(path: path).entry(named: "W"))
    // W_x[5, 10000], in block 107 of W; the other words' columns lie in other blocks.
    bytes[w.offset + 4 * (5 * (h + x) + h + 10_000)] ^= 0x20
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let good = try CLI.run(["predict", path, "w100 w3000 w17000", "--top", "2"])
    #expect(good.status == 0, "\(good.stderr)")
    let bad = try CLI.run(["predict", path, "w100 w10000"])
    #expect(bad.status == 1)
    #expect(
      bad.stderr.contains("tensor \"W\" block 107 (bytes 438272..<442368) checksum mismatch"), "\(bad.stderr)"
    )
  }
}
