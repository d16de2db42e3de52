import Foundation
import RNNFormat
import RNNModel

/// The golden `.rnn` files in Fixtures/, and the code that makes them.
///
/// `RNNKIT_REGENERATE_FIXTURES=1 swift test --filter GoldenFixtureTests` rewrites them; do that only
/// for a deliberate format change, and say so in the commit.
enum GoldenFixtures {
  static let directory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

  static let floatDTypes: [DType] = [.f32, .f16, .bf16, .f64]

  static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  /// Every golden file name with the model it holds.
  static func all() throws -> [(name: String, model: ElmanModel, dtype: DType)] {
    var out: [(String, ElmanModel, DType)] = []
    for dtype in floatDTypes { out.append(("token-\(dtype).rnn", try tokenModel(), dtype)) }
    out.append(("dense-f32.rnn", try denseModel(), .f32))
    return out
  }

  /// Deterministic values in [-scale, scale] that need no random generator.
  static func values(_ count: Int, seed: Double, scale: Float = 0.5) -> [Float] {
    (0..<count).map { Float(sin(Double($0) * 0.731 + seed)) * scale }
  }

  /// A word-level language model over eight tokens, H = 4, tanh and softmax.
  static func tokenModel() throws -> ElmanModel {
    let tokens = ["<unk>", "my", "favourite", "dish", "is", "sushi", ".", "japanese"]
    let h = 4
    let x = tokens.count
    return try ElmanModel(
      W: Parameter(values(h * (h + x), seed: 1), shape: [h, h + x]),
      b: Parameter(values(h, seed: 2, scale: 0.1), shape: [h]),
      V: Parameter(values(x * h, seed: 3), shape: [x, h]),
      c: Parameter(values(x, seed: 4, scale: 0.1), shape: [x]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: Vocabulary(tokens),
      tokenizer: TokenizerSettings(
        level: .word, lowercase: true, splitPunctuation: true, unknownToken: "<unk>"),
      provenance: Provenance(
        name: "golden-token", description: "A tiny token model for format tests",
        sourceFormat: "rnnkit-fixture",
        converterVersion: "0.1.0", created: "2026-11-29"))
  }

  /// A dense-input model: X = 2 features, H = 3, one sigmoid output, relu hidden units.
  static func denseModel() throws -> ElmanModel {
    let h = 3
    let x = 2
    return try ElmanModel(
      W: Parameter(values(h * (h + x), seed: 5), shape: [h, h + x]),
      b: Parameter(values(h, seed: 6, scale: 0.1), shape: [h]),
      V: Parameter(values(h, seed: 7), shape: [1, h]),
      c: Parameter([0.05], shape: [1]),
      hiddenActivation: .relu, outputActivation: .sigmoid, inputKind: .dense,
      provenance: Provenance(name: "golden-dense", sourceFormat: "rnnkit-fixture", created: "2026-11-29"))
  }
}
