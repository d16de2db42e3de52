import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNHDF5

/// `HDF5File.create` builds the file in the output file's own pages when it is given an estimate,
/// and moves to anonymous memory when the file outgrows it. Every path must give the same bytes.
@Suite struct ReservedImageTests {
  private func write(_ model: ElmanModel, to path: String, reserving: Int, dtype: DType = .f32) throws {
    try HDF5File.create(path: path, overwrite: false, reserving: reserving) { root throws(HDF5Error) in
      do {
        try HDF5File.writeParameter(model.W, name: "W", in: root, dtype: dtype)
        try HDF5File.writeParameter(model.b, name: "b", in: root, dtype: dtype)
        try HDF5File.writeParameter(model.V, name: "V", in: root, dtype: dtype)
        try HDF5File.writeParameter(model.c, name: "c", in: root, dtype: dtype)
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

  /// Built in the file's own pages, a dataset over `H5Location.pieceBytes` is written in pieces of
  /// rows, each sent to disk behind the copy; in anonymous memory, in one write. The bytes must
  /// not differ, whatever the dtype (the memory element sizes of the pieces differ).
  @Test(arguments: [DType.f32, .f64, .f16])
  func largeDatasetsWrittenInPiecesGiveTheSameBytes(dtype: DType) throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // W is 128 x 34,128 and V 34,000 x 128: over 8 MiB each even as f16, in several pieces
    // whose last one is shorter.
    let model = try makeModel(h: 128, x: 34_000, kind: .tokens)
    #expect(128 * 34_128 * 2 > H5Location.pieceBytes)
    let estimate = HDF5File.estimatedSize(of: model, requested: dtype)
    var outputs: [Data] = []
    for (index, reserving) in [0, estimate].enumerated() {
      let path = folder.appendingPathComponent("m\(index).h5").path
      try write(model, to: path, reserving: reserving, dtype: dtype)
      outputs.append(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
    // Compared as Bools: a failure must not print megabytes.
    let sameBytes = outputs[1] == outputs[0]
    #expect(sameBytes, "the file written in pieces differs from the one written at once")
    let back = try PlainHDF5.read(
      path: folder.appendingPathComponent("m1.h5").path, hiddenActivation: .tanh, outputActivation: .softmax)
    // f32 and f64 hold every f32 weight exactly; f16 rounds each to nearest-even, as FloatCodec does.
    func expected(_ parameter: Parameter) -> [Float] {
      let values = parameter.floats()
      guard dtype == .f16 else { return values }
      let bytes = values.withUnsafeBufferPointer { FloatCodec.encode($0, as: .f16) }
      return bytes.withUnsafeBytes { FloatCodec.decode($0, dtype: .f16, count: values.count) }
    }
    let sameW = back.W.floats() == expected(model.W)
    let sameV = back.V.floats() == expected(model.V)
    #expect(sameW && sameV, "the weights read back differ from those written")
  }
}
