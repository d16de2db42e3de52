import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

@Suite struct ErrorTests {
  @Test func badInputsAreReported() throws {
    let tokens = try InferenceModel(TestModels.make(h: 4, x: 6))
    #expect(throws: RuntimeError.tokenOutOfRange(position: 2, id: 6, vocabularySize: 6)) {
      try tokens.forward(tokens: [0, 1, 6])
    }
    #expect(throws: RuntimeError.tokenOutOfRange(position: 0, id: -1, vocabularySize: 6)) {
      try tokens.forward(tokens: [-1])
    }
    #expect(throws: RuntimeError.emptyInput) { try tokens.forward(tokens: []) }
    #expect(throws: RuntimeError.emptyInput) { try tokens.forward(batch: []) }
    #expect(throws: RuntimeError.inputKindMismatch(model: .tokens, given: .dense)) {
      try tokens.forward(vectors: [[1, 2, 3, 4, 5, 6]])
    }
    #expect(
      throws: RuntimeError.invalidArgument(
        "scoring needs at least 2 tokens (the first is given, the rest are predicted)")
    ) {
      try tokens.score(tokens: [1])
    }

    let dense = try InferenceModel(TestModels.make(h: 4, x: 3, o: 2, kind: .dense))
    #expect(throws: RuntimeError.wrongVectorSize(position: 1, found: 2, expected: 3)) {
      try dense.forward(vectors: [[1, 2, 3], [1, 2]])
    }
    #expect(throws: RuntimeError.emptyInput) { try dense.forward(vectors: []) }
    #expect(throws: RuntimeError.inputKindMismatch(model: .dense, given: .tokens)) {
      try dense.forward(tokens: [0])
    }
    #expect(throws: RuntimeError.inputKindMismatch(model: .dense, given: .tokens)) {
      try dense.score(tokens: [0, 1])
    }
    var session = InferenceSession(model: dense)
    #expect(throws: RuntimeError.inputKindMismatch(model: .dense, given: .tokens)) {
      try session.feed(token: 0)
    }

    let classifier = try InferenceModel(TestModels.make(h: 4, x: 6, o: 2))
    #expect(throws: RuntimeError.self) { try classifier.generate(prompt: [0]) }
    #expect(throws: RuntimeError.self) { try classifier.score(tokens: [0, 1]) }
  }

  @Test func messagesAreOneActionableLine() {
    let errors: [RuntimeError] = [
      .emptyInput, .tokenOutOfRange(position: 2, id: 9, vocabularySize: 5),
      .wrongVectorSize(position: 0, found: 2, expected: 3), .inputKindMismatch(model: .dense, given: .tokens),
      .nonFiniteHidden(step: 4, sequence: 1), .unknownTokens(["a", "b"]),
    ]
    for error in errors {
      #expect(!error.description.isEmpty && !error.description.contains("\n"))
    }
    #expect(
      RuntimeError.tokenOutOfRange(position: 2, id: 9, vocabularySize: 5).description
        == "token id 9 at position 2 is outside the vocabulary (valid ids are 0...4)")
    #expect(RuntimeError.nonFiniteHidden(step: 4, sequence: nil).description.contains("at step 4"))
  }

  /// Huge weights with f = identity overflow to infinity at a known step.
  @Test func nonFiniteHiddenReportsTheStep() throws {
    let h = 3
    let x = 2
    var w = [Float](repeating: 0, count: h * (h + x))
    for i in 0..<h {
      w[i * (h + x) + i] = 1e20  // W_h = 1e20 · I
      w[i * (h + x) + h] = 1e20  // token 0 adds 1e20
    }
    let model = try ElmanModel(
      W: Parameter(w, shape: [h, h + x]), b: Parameter([0, 0, 0], shape: [h]),
      V: Parameter([Float](repeating: 1, count: x * h), shape: [x, h]), c: Parameter([0, 0], shape: [x]),
      hiddenActivation: .identity, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary(["a", "b"]), tokenizer: TokenizerSettings(unknownToken: nil))
    let runtime = try InferenceModel(model)
    // Step 0: h = 1e20; step 1: 1e40 overflows.
    #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: nil)) {
      try runtime.forward(tokens: [0, 0, 0])
    }
    #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: 1)) {
      try runtime.forward(batch: [[1, 1, 1], [0, 0, 0]])
    }
    var session = InferenceSession(model: runtime)
    try session.feed(token: 0)
    #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: nil)) { try session.feed(token: 0) }
    #expect(throws: RuntimeError.nonFiniteHidden(step: 1, sequence: nil)) {
      try runtime.score(tokens: [0, 0, 1])
    }
  }

  /// A file whose metadata names an activation this build does not know fails to load, naming it.
  @Test func unknownActivationInMetadata() throws {
    let folder = try TestModels.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestModels.make(h: 3, x: 4)
    var metadata = model.containerMetadata
    metadata[Schema.hiddenActivation] = .string("gelu")
    let path = folder.appendingPathComponent("gelu.rnn").path
    try ContainerWriter.write(metadata: metadata, tensors: model.containerTensors(), to: path)
    do {
      _ = try ElmanModel.load(path: path)
      Issue.record("loading a model with activation gelu succeeded")
    } catch {
      let message = "\(error)"
      #expect(message.contains("gelu") && message.contains("gelu.rnn"), "\(message)")
    }
  }
}
