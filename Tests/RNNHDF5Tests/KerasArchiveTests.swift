import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNHDF5

/// `.keras` archives written by RNNKit and read back by its own reader (Keras itself loads them in
/// Tests/InteropTests and Tests/CLITests).
@Suite struct KerasArchiveWriterTests {
  /// Everything the `.rnn` file keeps comes back: W, b, V and c bit for bit (f32), activations,
  /// input kind, vocabulary, tokenizer settings and provenance, with no options.
  @Test(arguments: [InputKind.tokens, .dense])
  func roundTripNeedsNoOptions(kind: InputKind) throws {
    let folder = try temporaryFolder()
    var model = try makeModel(h: 5, x: 8, o: kind == .tokens ? 8 : 3, kind: kind, f: .softsign, g: .sigmoid)
    model.tokenizer = TokenizerSettings(
      level: .char, lowercase: false, splitPunctuation: false, unknownToken: "w3", endOfSequence: "w7")
    model.provenance = Provenance(name: "model with a ☃ and a \"quote\"", description: "line one\nline two")
    let path = folder.appendingPathComponent("m.keras").path
    try Keras.writeArchive(model, to: path)
    let back = try Keras.readArchive(path: path)
    for (name, x, y) in [
      ("W", model.W, back.W), ("b", model.b, back.b), ("V", model.V, back.V), ("c", model.c, back.c),
    ] {
      #expect(x.shape == y.shape && x.floats().map(\.bitPattern) == y.floats().map(\.bitPattern), "\(name)")
    }
    #expect(back.hiddenActivation == .softsign && back.outputActivation == .sigmoid)
    #expect(back.inputKind == kind)
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    if kind == .tokens { #expect(back.tokenizer == model.tokenizer) }
    #expect(back.provenance.name == model.provenance.name)
    #expect(back.provenance.description == model.provenance.description)
    #expect(back.provenance.sourceFormat == "keras")
  }

  /// A vocabulary the caller supplies wins over the stored one, as for every other format.
  @Test func aSuppliedVocabularyWins() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(x: 4)
    let path = folder.appendingPathComponent("m.keras").path
    try Keras.writeArchive(model, to: path)
    let back = try Keras.readArchive(
      path: path, options: KerasImportOptions(vocabulary: ["a", "b", "c", "d"]))
    #expect(back.vocabulary?.tokens == ["a", "b", "c", "d"])
  }

  /// The dtype is kept in the weights member; bf16 and integers are refused before anything is
  /// written, and an existing file is kept without `overwrite`.
  @Test func dtypesAndOverwrite() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(o: 3, kind: .dense)
    let path = folder.appendingPathComponent("m.keras").path
    try Keras.writeArchive(model, to: path, dtype: .f16)
    let half = try Keras.readArchive(path: path)
    #expect(half.W.dtype == .f16)
    #expect(half.W.floats() == model.W.floats().map { Float(Float16($0)) })
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let exists = #expect(throws: HDF5Error.self) { try Keras.writeArchive(model, to: path, dtype: .f64) }
    #expect(exists?.reason == .destinationExists && exists?.requestedInput == .overwrite)
    let bf16 = #expect(throws: HDF5Error.self) {
      try Keras.writeArchive(model, to: path, dtype: .bf16, overwrite: true)
    }
    #expect(bf16?.description.contains("cannot write weights as bf16") == true, "\(String(describing: bf16))")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    try Keras.writeArchive(model, to: path, dtype: .f64, overwrite: true)
    #expect(try Keras.readArchive(path: path).W.dtype == .f64)
    #expect(files(in: folder) == ["m.keras"])
  }

  /// Every hidden activation RNNKit has is one of Keras's, so every model can be written.
  @Test func everyHiddenActivationHasAKerasName() {
    for f in HiddenActivation.allCases {
      let name = Keras.kerasActivation(f)
      #expect(name != nil && HiddenActivation(name: name!) == f, "\(f)")
    }
  }
}
