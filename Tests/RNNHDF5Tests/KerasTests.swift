import Foundation
import Numerics
import RNNFormat
import RNNModel
import RNNRuntime
import Testing

@testable import KerasConfig
@testable import RNNHDF5

@Suite struct KerasTests {
  func exactlyEqual(_ a: ElmanModel, _ b: ElmanModel) {
    for (name, x, y) in [("W", a.W, b.W), ("b", a.b, b.b), ("V", a.V, b.V), ("c", a.c, b.c)] {
      #expect(x.shape == y.shape, "\(name)")
      #expect(x.floats().map(\.bitPattern) == y.floats().map(\.bitPattern), "\(name)")
    }
    #expect(a.hiddenActivation == b.hiddenActivation && a.outputActivation == b.outputActivation)
    #expect(a.inputKind == b.inputKind)
    #expect(a.vocabulary?.tokens == b.vocabulary?.tokens)
  }

  /// rnn → Keras → rnn is exact for f32: token models go out as Embedding = W_xᵀ with an identity
  /// kernel, and folding E·I back multiplies each value by exactly 1.
  @Test(arguments: [InputKind.tokens, .dense])
  func roundTripsThroughBothKerasFilesAreExact(kind: InputKind) throws {
    let folder = try temporaryFolder()
    let model = try makeModel(h: 7, x: 10, o: kind == .tokens ? 10 : 4, kind: kind, f: .relu, g: .sigmoid)
    let weights = folder.appendingPathComponent("m.weights.h5").path
    let legacy = folder.appendingPathComponent("m.h5").path
    try Keras.writeWeights(model, to: weights)
    try Keras.writeLegacy(model, to: legacy)
    let vocabulary = model.vocabulary?.tokens
    let fromLegacy = try Keras.readLegacy(path: legacy, options: KerasImportOptions(vocabulary: vocabulary))
    exactlyEqual(model, fromLegacy)
    #expect(fromLegacy.provenance.sourceFormat == "keras-h5")
    let fromWeights = try Keras.readWeights(
      path: weights,
      options: KerasImportOptions(hiddenActivation: .relu, outputActivation: .sigmoid, vocabulary: vocabulary)
    )
    exactlyEqual(model, fromWeights)
    #expect(fromWeights.provenance.sourceFormat == "keras-weights")
    #expect(HDF5Library.kind(path: legacy) == .kerasLegacy)
    #expect(HDF5Library.kind(path: weights) == .kerasWeights)
  }

  @Test func keepsTheFileDTypeOnRequest() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(o: 3, kind: .dense)
    let path = folder.appendingPathComponent("m.h5").path
    try Keras.writeLegacy(model, to: path, dtype: .f16)
    let back = try Keras.readLegacy(path: path)
    #expect(back.W.dtype == .f16)
    #expect(back.W.floats() == model.W.floats().map { Float(Float16($0)) })
  }

  @Test func vocabularyProblemsNameTheVocabulary() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(x: 5)
    let path = folder.appendingPathComponent("m.h5").path
    try Keras.writeLegacy(model, to: path)
    let missing = #expect(throws: HDF5Error.self) { try Keras.readLegacy(path: path) }
    #expect(missing?.requestedInput == .vocabulary)
    #expect(missing?.description.contains("store no vocabulary") == true)
    let short = #expect(throws: HDF5Error.self) {
      try Keras.readLegacy(
        path: path, options: KerasImportOptions(vocabulary: ["a", "b"], vocabularyPath: "v.txt"))
    }
    #expect(short?.description == "v.txt: has 2 tokens but the Embedding in \(path) has input_dim 5")
    let duplicate = #expect(throws: HDF5Error.self) {
      try Keras.readLegacy(
        path: path,
        options: KerasImportOptions(vocabulary: ["a", "b", "a", "c", "d"], vocabularyPath: "v.txt"))
    }
    #expect(duplicate?.description.hasPrefix("v.txt: vocabulary: token \"a\" appears twice") == true)
    // A vocabulary with <unk> keeps it as the unknown token; without, unknown words are errors.
    let withUnknown = try Keras.readLegacy(
      path: path, options: KerasImportOptions(vocabulary: ["<unk>", "b", "c", "d", "e"]))
    #expect(withUnknown.tokenizer.unknownToken == "<unk>")
    let without = try Keras.readLegacy(
      path: path, options: KerasImportOptions(vocabulary: ["a", "b", "c", "d", "e"]))
    #expect(without.tokenizer.unknownToken == nil)
  }

  @Test func weightsFileWithoutFlagsAsksForActivations() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.weights.h5").path
    try Keras.writeWeights(makeModel(o: 2, kind: .dense), to: path)
    let error = #expect(throws: HDF5Error.self) { try Keras.readWeights(path: path) }
    #expect(error?.requestedInput == .hiddenActivation)
    #expect(
      error?.description == "\(path): a .weights.h5 file stores no activations (Keras's default f is tanh)")
  }

  @Test func snakeCaseMatchesKeras() {
    // The group names Keras 3 gives layers in weight files.
    #expect(KerasArchitecture.snakeCase("SimpleRNN") == "simple_rnn")
    #expect(KerasArchitecture.snakeCase("Dense") == "dense")
    #expect(KerasArchitecture.snakeCase("Embedding") == "embedding")
    #expect(KerasArchitecture.snakeCase("InputLayer") == "input_layer")
  }
}
