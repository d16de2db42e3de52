import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNHDF5

/// libhdf5 follows external links, reads external raw storage and virtual datasets from any file a
/// model file names. The bridge reads only the file it was given: each of these files, built by
/// h5py from one RNNKit wrote, is refused with a one-line error naming the object, and the canary
/// file they point at (every value 31337) never reaches a model.
@Suite struct ForeignDataTests {
  let folder: URL
  let canaryH5: String
  let canaryRaw: String
  let model: ElmanModel

  init() throws {
    folder = try temporaryFolder()
    canaryH5 = folder.appendingPathComponent("canary.h5").path
    canaryRaw = folder.appendingPathComponent("canary.bin").path
    model = try makeModel(h: 2, x: 6, o: 6)
    // /W of the plain layout is [2, 8].
    try python("hostile/hdf5_tamper.py", ["canary", canaryH5, canaryRaw, "2x8"])
  }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  /// Writes the model as plain HDF5 and lets the script replace /W.
  func plain(_ name: String, _ command: String, _ target: String) throws -> String {
    let file = path(name)
    try PlainHDF5.write(model, to: file)
    try python("hostile/hdf5_tamper.py", [command, file, "W", target])
    return file
  }

  func expectRefused(_ read: () throws -> ElmanModel, _ message: String) {
    do {
      let model = try read()
      Issue.record("accepted; W = \(model.W.floats().prefix(4))")
    } catch {
      #expect("\(error)" == message)
    }
    #expect(HDF5Library.openObjectCount() == 0)
  }

  @Test func externalRawStorageIsRefused() throws {
    let file = try plain("storage.h5", "external-storage", canaryRaw)
    expectRefused(
      { try PlainHDF5.read(path: file) },
      "\(file): /W stores its data in the external file \"\(canaryRaw)\"; data outside the given file is not read"
    )
  }

  @Test func externalLinksAreNotFollowed() throws {
    let file = try plain("link.h5", "external-link", canaryH5)
    let message =
      "\(file): /W is an external link to file \"\(canaryH5)\" object \"/W\"; links into other files are not followed"
    expectRefused({ try PlainHDF5.read(path: file) }, message)
    // Detection does not follow it either, and reading by extension gives the same refusal.
    #expect(HDF5Library.kind(path: file) == .other)
  }

  @Test func softLinksAreNotFollowed() throws {
    let file = try plain("soft.h5", "soft-link", canaryH5)
    expectRefused(
      { try PlainHDF5.read(path: file) },
      "\(file): /W is a soft link to \"/hop\"; only hard links are followed")
  }

  @Test func virtualDatasetsAreRefused() throws {
    let file = try plain("virtual.h5", "virtual", canaryH5)
    expectRefused(
      { try PlainHDF5.read(path: file) },
      "\(file): /W is a virtual dataset, whose data comes from other datasets; it is not read")
  }

  /// A link in the middle of a path (the layer group of a legacy file) is caught before libhdf5
  /// walks through it.
  @Test func legacyKerasGroupBehindAnExternalLink() throws {
    let file = path("legacy.h5")
    try Keras.writeLegacy(model, to: file)
    try python("hostile/hdf5_tamper.py", ["external-link", file, "model_weights/dense/dense", canaryH5])
    expectRefused(
      { try Keras.readLegacy(path: file, options: KerasImportOptions(vocabulary: model.vocabulary?.tokens)) },
      "\(file): /model_weights/dense/dense is an external link to file \"\(canaryH5)\" object \"/W\"; links into other files are not followed"
    )
  }

  @Test func kerasWeightsWithExternalStorage() throws {
    let file = path("m.weights.h5")
    try Keras.writeWeights(model, to: file)
    try python("hostile/hdf5_tamper.py", ["external-storage", file, "layers/dense/vars/0", canaryRaw])
    expectRefused(
      {
        try Keras.readWeights(
          path: file,
          options: KerasImportOptions(
            hiddenActivation: .tanh, outputActivation: .softmax, vocabulary: model.vocabulary?.tokens))
      },
      "\(file): /layers/dense/vars/0 stores its data in the external file \"\(canaryRaw)\"; data outside the given file is not read"
    )
  }

  /// Inside a `.keras` archive the weights file is opened from memory; its external storage is
  /// refused all the same.
  @Test func kerasArchiveWithExternalStorage() throws {
    let weights = path("model.weights.h5")
    let config = path("config.json")
    let archive = path("m.keras")
    try Keras.writeWeights(model, to: weights)
    try python(
      "hostile/hdf5_tamper.py", ["external-storage", weights, "layers/simple_rnn/cell/vars/1", canaryRaw])
    try Keras.modelConfig(model).write(toFile: config, atomically: true, encoding: .utf8)
    try python("hostile/hdf5_tamper.py", ["archive", archive, config, weights])
    expectRefused(
      {
        try Keras.readArchive(
          path: archive, options: KerasImportOptions(vocabulary: model.vocabulary?.tokens))
      },
      "\(archive): model.weights.h5: /layers/simple_rnn/cell/vars/1 stores its data in the external file \"\(canaryRaw)\"; data outside the given file is not read"
    )
    // The same archive with the untouched weights reads, so the refusal is about the storage alone.
    try Keras.writeWeights(model, to: weights, overwrite: true)
    try python("hostile/hdf5_tamper.py", ["archive", path("good.keras"), config, weights])
    let good = try Keras.readArchive(
      path: path("good.keras"), options: KerasImportOptions(vocabulary: model.vocabulary?.tokens))
    #expect(good.W.floats() == model.W.floats())
  }
}
