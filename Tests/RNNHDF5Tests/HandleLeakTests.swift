import Foundation
import RNNFormat
import RNNHDF5
import RNNModel
import Testing

@Suite struct HandleLeakTests {
  /// Every path through the bridge, successful or failing, must close what it opened.
  @Test func noIdentifierOutlivesACall() throws {
    let folder = try temporaryFolder()
    let before = HDF5Library.openObjectCount()
    let model = try makeModel()
    let plain = folder.appendingPathComponent("p.h5").path
    let weights = folder.appendingPathComponent("k.weights.h5").path
    let legacy = folder.appendingPathComponent("k.h5").path
    try PlainHDF5.write(model, to: plain, dtype: .f16)
    try Keras.writeWeights(model, to: weights)
    try Keras.writeLegacy(model, to: legacy)
    _ = try PlainHDF5.read(path: plain)
    let options = KerasImportOptions(vocabulary: model.vocabulary?.tokens)
    _ = try Keras.readLegacy(path: legacy, options: options)
    _ = try Keras.readWeights(
      path: weights,
      options: KerasImportOptions(
        hiddenActivation: .tanh, outputActivation: .softmax, vocabulary: options.vocabulary))
    _ = HDF5Library.kind(path: plain)
    // Failures part-way through a read: wrong vocabulary, missing options, wrong format.
    _ = try? Keras.readLegacy(path: legacy, options: KerasImportOptions(vocabulary: ["x"]))
    _ = try? Keras.readWeights(path: weights)
    _ = try? Keras.readLegacy(path: plain)
    _ = try? PlainHDF5.read(path: legacy)
    _ = try? PlainHDF5.write(model, to: plain)  // exists
    // Failures of the final write, after the whole file was built.
    let nowhere = folder.appendingPathComponent("no such folder").path
    #expect(throws: HDF5Error.self) { try PlainHDF5.write(model, to: nowhere + "/p.h5") }
    #expect(throws: HDF5Error.self) { try Keras.writeWeights(model, to: nowhere + "/k.weights.h5") }
    #expect(throws: HDF5Error.self) { try Keras.writeLegacy(model, to: nowhere + "/k.h5") }
    #expect(HDF5Library.openObjectCount() == before)
    #expect(before == 0)
  }
}
