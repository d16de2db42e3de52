import CHDF5
import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNHDF5

@Suite struct BadInputTests {
  let folder: URL
  init() throws { folder = try temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  @Test func zeroByteFile() throws {
    _ = FileManager.default.createFile(atPath: path("empty.h5"), contents: Data())
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("empty.h5")) }
    #expect(error?.description == "\(path("empty.h5")): is empty (0 bytes)")
    #expect(throws: HDF5Error.self) { try Keras.readArchive(path: path("empty.h5")) }
  }

  @Test func truncatedFilesFailCleanly() throws {
    let full = path("full.h5")
    try PlainHDF5.write(makeModel(h: 16, x: 40), to: full)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
    // Cut inside the superblock, inside the metadata, and inside the data.
    for cut in [100, 1500, bytes.count / 2, bytes.count - 10] {
      let truncated = path("cut-\(cut).h5")
      _ = FileManager.default.createFile(atPath: truncated, contents: bytes.prefix(cut))
      let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: truncated) }
      #expect(error?.path == truncated)
      #expect(error?.description.contains("\n") == false, "one line: \(String(describing: error))")
    }
    #expect(HDF5Library.openObjectCount() == 0)
  }

  @Test func notHDF5AtAll() throws {
    _ = FileManager.default.createFile(atPath: path("text.h5"), contents: Data("hello, world\n".utf8))
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("text.h5")) }
    #expect(error?.description.hasPrefix("\(path("text.h5")): opening the file as HDF5 failed") == true)
    #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("does-not-exist.h5")) }
  }

  @Test func missingDatasetNamesIt() throws {
    try RawHDF5.create(path("missing.h5")) { file in
      RawHDF5.floats(file, "W", [Float](repeating: 0.5, count: 2 * 5), shape: [2, 5])
      RawHDF5.floats(file, "b", [0, 0], shape: [2])
      RawHDF5.floats(file, "c", [0, 0, 0], shape: [3])
      RawHDF5.stringAttribute(file, "hidden_activation", "tanh")
      RawHDF5.stringAttribute(file, "output_activation", "softmax")
    }
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("missing.h5")) }
    #expect(error?.description == "\(path("missing.h5")): /V is missing")
  }

  @Test func wrongShapeNamesTheDatasetAndBothShapes() throws {
    try RawHDF5.create(path("shape.h5")) { file in
      RawHDF5.floats(file, "W", [Float](repeating: 0.5, count: 2 * 5), shape: [2, 5])
      RawHDF5.floats(file, "b", [0, 0], shape: [2])
      RawHDF5.floats(file, "V", [Float](repeating: 0, count: 3 * 4), shape: [3, 4])
      RawHDF5.floats(file, "c", [0, 0, 0], shape: [3])
      RawHDF5.stringAttribute(file, "hidden_activation", "tanh")
      RawHDF5.stringAttribute(file, "output_activation", "softmax")
    }
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("shape.h5")) }
    #expect(
      error?.description == "\(path("shape.h5")): /V has shape [3, 4], expected [3, 2] (O from /c, H from /b)"
    )
  }

  @Test func fixedLengthAttributesAndDenseDefaults() throws {
    // Fixed-length string attributes (as many tools write them) and no /vocab: a dense model.
    try RawHDF5.create(path("fixed.h5")) { file in
      RawHDF5.floats(file, "W", [Float](repeating: 0.25, count: 2 * 5), shape: [2, 5])
      RawHDF5.floats(file, "b", [0, 1], shape: [2])
      RawHDF5.floats(file, "V", [Float](repeating: 1, count: 3 * 2), shape: [3, 2])
      RawHDF5.floats(file, "c", [0, 0, 0], shape: [3])
      RawHDF5.stringAttribute(file, "hidden_activation", "relu")
      RawHDF5.stringAttribute(file, "output_activation", "linear")
    }
    let model = try PlainHDF5.read(path: path("fixed.h5"))
    #expect(
      model.inputKind == .dense && model.hiddenActivation == .relu && model.outputActivation == .identity)
    #expect(model.inputSize == 3)
  }

  @Test func missingActivationAsksForTheFlag() throws {
    try RawHDF5.create(path("noact.h5")) { file in
      RawHDF5.floats(file, "W", [Float](repeating: 0.25, count: 2 * 5), shape: [2, 5])
      RawHDF5.floats(file, "b", [0, 1], shape: [2])
      RawHDF5.floats(file, "V", [Float](repeating: 1, count: 3 * 2), shape: [3, 2])
      RawHDF5.floats(file, "c", [0, 0, 0], shape: [3])
    }
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("noact.h5")) }
    #expect(error?.requestedInput == .hiddenActivation)
    #expect(error?.description.contains("is missing") == true)
    let model = try PlainHDF5.read(
      path: path("noact.h5"), hiddenActivation: .tanh, outputActivation: .sigmoid)
    #expect(model.outputActivation == .sigmoid)
  }

  @Test func integerWeightsAreAnUnsupportedDType() throws {
    try RawHDF5.create(path("int.h5")) { file in
      let dims: [hsize_t] = [2]
      let space = h5.H5Screate_simple(1, dims, nil)
      let set = h5.H5Dcreate2(
        file, "b", h5.H5T_STD_I32LE_g, space, rnnkit_h5p_default(), rnnkit_h5p_default(),
        rnnkit_h5p_default())
      var values: [Int32] = [1, 2]
      _ = h5.H5Dwrite(
        set, h5.H5T_NATIVE_INT32_g, rnnkit_h5s_all(), rnnkit_h5s_all(), rnnkit_h5p_default(), &values)
      _ = h5.H5Dclose(set)
      _ = h5.H5Sclose(space)
    }
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("int.h5")) }
    #expect(error?.description == "\(path("int.h5")): /b has type i32, expected f16, f32 or f64")
  }

  /// A plain-layout file whose W is a deflate-compressed dataset of shape `dims`, far more than
  /// the file holds, with valid b and c.
  func writeCompressedBomb(_ name: String, dims: [hsize_t], chunk: [hsize_t]) throws {
    try RawHDF5.create(path(name)) { file in
      let space = h5.H5Screate_simple(2, dims, nil)
      let plist = h5.H5Pcreate(h5.H5P_CLS_DATASET_CREATE_ID_g)
      _ = h5.H5Pset_chunk(plist, 2, chunk)
      _ = h5.H5Pset_deflate(plist, 9)
      let set = h5.H5Dcreate2(
        file, "W", h5.H5T_IEEE_F32LE_g, space, rnnkit_h5p_default(), plist, rnnkit_h5p_default())
      _ = h5.H5Dclose(set)
      _ = h5.H5Pclose(plist)
      _ = h5.H5Sclose(space)
      RawHDF5.floats(file, "b", [0, 0], shape: [2])
      RawHDF5.floats(file, "c", [0], shape: [1])
    }
  }

  /// A compressed dataset can claim any shape while storing nothing; reading must refuse before
  /// allocating.
  @Test func compressionBombIsRefusedBeforeAllocating() throws {
    try writeCompressedBomb("bomb.h5", dims: [1 << 20, 1 << 20], chunk: [1024, 1024])
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("bomb.h5")) }
    #expect(error?.description.contains("/W has shape [1048576, 1048576], expected [2, 2+X]") == true)
    // With a matching first dimension the size claim itself is what gets refused.
    try writeCompressedBomb("bomb2.h5", dims: [2, 1 << 40], chunk: [2, 1 << 16])
    let bomb = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path("bomb2.h5")) }
    #expect(
      bomb?.description.contains("/W: claims 8796093022208 bytes of data but stores only 0 compressed bytes")
        == true)
  }

  @Test func nonFiniteWeightsLoadAndAreReported() throws {
    var model = try makeModel(h: 3, x: 4)
    var w = model.W.floats()
    w[0] = .nan
    w[5] = .infinity
    model.W = Parameter(w, shape: model.W.shape)
    try PlainHDF5.write(model, to: path("nan.h5"))
    let back = try PlainHDF5.read(path: path("nan.h5"))
    #expect(back.W.floats()[0].isNaN && back.W.floats()[5] == .infinity)
    #expect(back.nonFiniteWeights() == [.nonFinite(tensor: "W", nanCount: 1, infCount: 1)])
  }
}

@Suite struct DamagedAttributeTests {
  /// A scalar read of an attribute that holds several elements must refuse, not overrun.
  @Test func arrayWhereAScalarBelongsIsRefused() throws {
    let folder = try temporaryFolder()
    let path = folder.appendingPathComponent("m.h5").path
    try PlainHDF5.write(makeModel(x: 4), to: path)
    try H5Library.serialized {
      let file = h5.H5Fopen(path, rnnkit_h5f_acc_rdwr(), rnnkit_h5p_default())
      precondition(file >= 0)
      _ = h5.H5Adelete(file, "tokenizer_lowercase")
      let dims: [hsize_t] = [5]
      let space = h5.H5Screate_simple(1, dims, nil)
      let attribute = h5.H5Acreate2(
        file, "tokenizer_lowercase", h5.H5T_STD_I64LE_g, space, rnnkit_h5p_default(), rnnkit_h5p_default()
      )
      var values: [Int64] = [1, 2, 3, 4, 5]
      _ = h5.H5Awrite(attribute, h5.H5T_NATIVE_INT64_g, &values)
      _ = h5.H5Aclose(attribute)
      _ = h5.H5Sclose(space)
      _ = h5.H5Fclose(file)
    }
    let error = #expect(throws: HDF5Error.self) { try PlainHDF5.read(path: path) }
    #expect(
      error?.description
        == "\(path): attribute \"tokenizer_lowercase\": reading attribute \"tokenizer_lowercase\" of / failed: it has 5 elements, expected one"
    )
    #expect(HDF5Library.openObjectCount() == 0)
  }
}
