import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNHDF5

/// `HDF5File.create` builds the file in the output file's own pages when it is given an estimate,
/// and moves to anonymous memory when the file outgrows it. Every path must give the same bytes.
@Suite struct ReservedImageTests {
  private func write(_ model: ElmanModel, to path: String, reserving: Int) throws {
    try HDF5File.create(path: path, overwrite: false, reserving: reserving) { root throws(HDF5Error) in
      do {
        try HDF5File.writeParameter(model.W, name: "W", in: root, dtype: .f32)
        try HDF5File.writeParameter(model.b, name: "b", in: root, dtype: .f32)
        try HDF5File.writeParameter(model.V, name: "V", in: root, dtype: .f32)
        try HDF5File.writeParameter(model.c, name: "c", in: root, dtype: .f32)
        try root.writeStringDataset("vocab", strings: model.vocabulary?.tokens ?? [])
      } catch {
        throw HDF5Error(path: path, reason: .invalid("\(error)"))
      }
    }
  }

  @Test func everyReservationGivesTheSameBytes() throws {
    let folder = try temporaryFolder()
    let model = try makeModel(h: 64, x: 500, kind: .tokens)
    let estimate = HDF5File.estimatedSize(of: model, requested: .f32)
    // None (anonymous memory only), too small (starts in the file, then moves), and the estimate.
    let reservations = [0, 4096, estimate]
    var outputs: [Data] = []
    for (index, reserving) in reservations.enumerated() {
      let path = folder.appendingPathComponent("m\(index).h5").path
      try write(model, to: path, reserving: reserving)
      outputs.append(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
    #expect(outputs[0].count > 4096, "the file must outgrow the small reservation")
    #expect(outputs[1] == outputs[0])
    #expect(outputs[2] == outputs[0])
    // Nothing but the three outputs is left in the folder (no temporary files).
    #expect(files(in: folder).count == 3)
    let back = try PlainHDF5.read(
      path: folder.appendingPathComponent("m2.h5").path, hiddenActivation: .tanh, outputActivation: .softmax)
    #expect(back.W.floats() == model.W.floats())
    #expect(back.V.floats() == model.V.floats())
  }
}
