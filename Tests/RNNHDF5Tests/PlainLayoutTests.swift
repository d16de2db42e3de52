import Foundation
import Numerics
import RNNFormat
import RNNHDF5
import RNNModel
import RNNRuntime
import Testing

@Suite struct PlainLayoutTests {
  @Test(arguments: [InputKind.tokens, .dense])
  func f32RoundTripIsExact(kind: InputKind) throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.h5").path
    var model = try makeModel(kind: kind)
    model.extraMetadata["train.epochs"] = .int(12)
    model.extraMetadata["train.rate"] = .float(0.125)
    model.extraMetadata["train.note"] = .string("héllo")
    model.extraMetadata["train.shuffled"] = .bool(true)
    model.extraMetadata["train.files"] = .stringArray(["a.txt", "b.txt"])
    try PlainHDF5.write(model, to: path)
    let back = try PlainHDF5.read(path: path)
    #expect(back.W.floats() == model.W.floats())
    #expect(back.b.floats() == model.b.floats())
    #expect(back.V.floats() == model.V.floats())
    #expect(back.c.floats() == model.c.floats())
    #expect(back.W.shape == model.W.shape && back.V.shape == model.V.shape)
    #expect(back.hiddenActivation == model.hiddenActivation)
    #expect(back.outputActivation == model.outputActivation)
    #expect(back.inputKind == kind)
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    // Dense models have no tokenizer; like .rnn files, their settings read back as the defaults.
    if kind == .tokens { #expect(back.tokenizer == model.tokenizer) }
    #expect(back.provenance.name == "test model")
    #expect(back.provenance.sourceFormat == "hdf5")
    #expect(back.extraMetadata["train.epochs"] == .int(12))
    #expect(back.extraMetadata["train.rate"] == .float(0.125))
    #expect(back.extraMetadata["train.note"] == .string("héllo"))
    #expect(back.extraMetadata["train.shuffled"] == .bool(true))
    #expect(back.extraMetadata["train.files"] == .stringArray(["a.txt", "b.txt"]))
    #expect(files(in: folder) == ["m.h5"])
  }

  @Test func rnnToHDF5ToRNNIsExact() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(h: 5, x: 7, o: 3, kind: .dense, f: .relu, g: .identity)
    let rnn = folder.appendingPathComponent("a.rnn").path
    try model.write(to: rnn)
    let h5 = folder.appendingPathComponent("a.h5").path
    try PlainHDF5.write(ElmanModel.load(path: rnn), to: h5)
    let rnn2 = folder.appendingPathComponent("b.rnn").path
    try PlainHDF5.read(path: h5).write(to: rnn2)
    let again = try ElmanModel.load(path: rnn2)
    for (x, y) in [(model.W, again.W), (model.b, again.b), (model.V, again.V), (model.c, again.c)] {
      #expect(x.floats().map(\.bitPattern) == y.floats().map(\.bitPattern))
    }
  }

  @Test func f16AndF64Outputs() throws {
    let folder = try temporaryFolder()
    let model = try makeModel()
    for dtype in [DType.f16, .f64] {
      let path = folder.appendingPathComponent("m-\(dtype).h5").path
      try PlainHDF5.write(model, to: path, dtype: dtype)
      let back = try PlainHDF5.read(path: path)
      #expect(back.W.dtype == dtype)
      if dtype == .f64 {
        #expect(back.W.floats() == model.W.floats())
      } else {
        // f16 keeps 11 significant bits: the rounding error is at most 2^-11 relative, and the
        // weights are below 0.5, so 2.5e-4 absolute bounds it.
        #expect(allClose(back.W.floats(), model.W.floats(), absolute: 2.5e-4))
        let expected = model.W.floats().map { Float(Float16($0)) }
        #expect(back.W.floats() == expected, "f16 must round to nearest even, exactly as Float16 does")
      }
    }
    #expect(throws: HDF5Error.self) {
      try PlainHDF5.write(model, to: folder.appendingPathComponent("bf.h5").path, dtype: .bf16)
    }
    #expect(!files(in: folder).contains("bf.h5"))
  }

  @Test func refusesToReplaceWithoutOverwrite() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.h5").path
    let model = try makeModel()
    try PlainHDF5.write(model, to: path)
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.write(model, to: path) }
    #expect(error?.reason == .destinationExists)
    try PlainHDF5.write(makeModel(seed: 2), to: path, overwrite: true)
    #expect(try PlainHDF5.read(path: path).W.floats() == makeModel(seed: 2).W.floats())
    #expect(files(in: folder) == ["m.h5"])
  }

  @Test func activationOverridesAndVocabularyReplacement() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.h5").path
    try PlainHDF5.write(makeModel(x: 3), to: path)
    let back = try PlainHDF5.read(
      path: path, hiddenActivation: .relu, outputActivation: .sigmoid, vocabulary: ["a", "b", "<unk>"])
    #expect(back.hiddenActivation == .relu && back.outputActivation == .sigmoid)
    #expect(back.vocabulary?.tokens == ["a", "b", "<unk>"])
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path, vocabulary: ["a", "b"]) }
    #expect(error?.description.contains("2 tokens but the input size X is 3") == true)
  }

  @Test func forwardPassOfTheImportMatchesTheSource() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.h5").path
    let model = try makeModel(h: 8, x: 11)
    try PlainHDF5.write(model, to: path, dtype: .f64)
    let a = try InferenceModel(model).forward(tokens: [1, 4, 0, 10, 3])
    let b = try InferenceModel(PlainHDF5.read(path: path)).forward(tokens: [1, 4, 0, 10, 3])
    // f64 storage holds every f32 exactly, so the forward passes agree bit for bit.
    #expect(a == b)
  }
}

@Suite struct InPlaceTests {
  /// Large contiguous f32 datasets on 64-byte boundaries (our writer aligns them) are used in
  /// place from the mapped file; small ones are read. Both give the same values.
  @Test func largeDatasetsAreMappedNotCopied() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("big.h5").path
    let model = try makeModel(h: 32, x: 100, o: 50)
    try PlainHDF5.write(model, to: path)
    let back = try PlainHDF5.read(path: path)
    #expect(back.W.view != nil, "W (16 KiB) should be a view into the file")
    #expect(back.V.view != nil, "V (6 KiB) should be a view into the file")
    #expect(back.W.floats() == model.W.floats())
    #expect(back.V.floats() == model.V.floats())
    #expect(back.b.floats() == model.b.floats())
    // f16 files map too, and keep their dtype.
    let half = folder.appendingPathComponent("half.h5").path
    try PlainHDF5.write(model, to: half, dtype: .f16)
    let halfBack = try PlainHDF5.read(path: half)
    #expect(halfBack.W.view?.dtype.known == .f16)
    #expect(halfBack.W.floats() == model.W.floats().map { Float(Float16($0)) })
  }
}
