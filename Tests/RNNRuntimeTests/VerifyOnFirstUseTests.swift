import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// A format 1.1 model opened with `verifyOnFirstUse`: the runtime reads only verified bytes.
@Suite struct VerifyOnFirstUseTests {
  // W is 64×9064 and V 9000×64 floats, both over 1 MiB, so the file is 1.1 and both are deferred.
  // A column of W_x lies in 64 of W's 567 blocks, one per row, and W_h in 128. The first 283
  // blocks (half of W: W_h and 2 columns) are copied out of the file, later ones verified in place.
  static let (h, x) = (64, 9000)

  /// Writes the model to a fresh folder; `edit` may change the file's bytes.
  static func file(_ edit: (inout [UInt8], Container) throws -> Void = { _, _ in }) throws -> (URL, String) {
    let folder = try TestModels.temporaryFolder()
    let path = folder.appendingPathComponent("m.rnn").path
    try TestModels.make(h: h, x: x, seed: 7, scale: 0.2).write(to: path)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let container = try Container.open(path: path)
    #expect(container.minorVersion == 1)
    try edit(&bytes, container)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (folder, path)
  }

  static func open(_ path: String, onFirstUse: Bool) throws -> ElmanModel {
    var options = ReadOptions()
    options.verifyOnFirstUse = onFirstUse
    return try ElmanModel.load(path: path, options: options)
  }

  /// The offset in the file of W[i, j].
  static func offsetOfW(_ container: Container, row i: Int, column j: Int) -> Int {
    container.entry(named: "W")!.offset + 4 * (i * (h + x) + j)
  }

  static func isCorrupt(_ error: any Error, tensor: String) -> Bool {
    guard case .corruptWeights(.checksumMismatch(let part, _, _)) = error as? RuntimeError else {
      return false
    }
    return part.hasPrefix("tensor \"\(tensor)\" block")
  }

  @Test func givesTheSameResultsAsVerifyingAtOpen() throws {
    let (folder, path) = try Self.file()
    defer { try? FileManager.default.removeItem(at: folder) }
    let lazy = try InferenceModel(Self.open(path, onFirstUse: true))
    let eager = try InferenceModel(Self.open(path, onFirstUse: false))
    let tokens = [3, 8_999, 17, 3, 2_500]
    // Same columns, same order of operations: equal to the last bit.
    #expect(try lazy.forward(tokens: tokens) == eager.forward(tokens: tokens))
    #expect(try lazy.predictNext(tokens: tokens, topK: 5) == eager.predictNext(tokens: tokens, topK: 5))
    // A batch that needs more than X/32 new columns takes the full transpose; results agree within
    // rounding of a different summation order (1e-5 relative, H = 64 terms of |w| ≤ 0.2).
    let batch = (0..<4).map { s in (0..<60).map { (s * 613 + $0 * 37) % Self.x } }
    let many = try lazy.forward(batch: batch)
    for (s, sequence) in batch.enumerated() {
      let single = try eager.forward(tokens: sequence)
      for (a, b) in zip(many[s].outputs.joined(), single.outputs.joined()) {
        #expect(abs(a - b) <= 1e-5 * max(1, abs(b)))
      }
    }
  }

  @Test func aCorruptColumnOfWFailsWhenItsTokenIsFirstUsed() throws {
    // Corrupt W_x[10, 4000]: input column 4000 of row 10. Column 100 of the same row lies in
    // another 4 KiB block (3,900 floats away), so token 100 still runs.
    let (folder, path) = try Self.file { bytes, container in
      bytes[Self.offsetOfW(container, row: 10, column: Self.h + 4_000) + 1] ^= 0x10
    }
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(throws: (any Error).self) { try Self.open(path, onFirstUse: false) }
    let runtime = try InferenceModel(Self.open(path, onFirstUse: true))
    _ = try runtime.predictNext(tokens: [100, 101])
    #expect { try runtime.predictNext(tokens: [100, 4_000]) } throws: { Self.isCorrupt($0, tensor: "W") }
    var session = InferenceSession(model: runtime)
    #expect { try session.advance(token: 4_000) } throws: { Self.isCorrupt($0, tensor: "W") }
    // Ten new columns (640 blocks) are past the blocks read from the file and more than a
    // quarter of W's blocks, so W is verified whole, in place.
    #expect { try runtime.predictNext(tokens: Array(200..<210)) } throws: { Self.isCorrupt($0, tensor: "W") }
    // A batch large enough for the full transpose verifies all of W first.
    #expect { try runtime.forward(batch: [Array(0..<400)]) } throws: { Self.isCorrupt($0, tensor: "W") }
  }

  @Test func columnsCopiedFromTheFileNeedOnlyTheirOwnBlocks() throws {
    // W is 16×20016 floats (313 blocks, a row 80,064 bytes): W_h lies in 16 blocks and a column
    // in 16, so the first 156 blocks (half of W) are W_h and 8 columns, copied out of the file.
    // Six columns (96 blocks) are more than a quarter of W, which used to verify W whole.
    let folder = try TestModels.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.rnn").path
    let (h, x) = (16, 20_000)
    try TestModels.make(h: h, x: x, seed: 5, scale: 0.2).write(to: path)
    let w = try #require(try Container.open(path: path).entry(named: "W"))
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    // W_x[5, 10000]; the other columns used lie over 1024 floats away, in other blocks.
    bytes[w.offset + 4 * (5 * (h + x) + h + 10_000) + 2] ^= 0x08
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let runtime = try InferenceModel(Self.open(path, onFirstUse: true))
    _ = try runtime.predictNext(tokens: [100, 3_000, 6_000, 14_000, 17_000, 19_000])
    #expect { try runtime.predictNext(tokens: [100, 10_000]) } throws: { Self.isCorrupt($0, tensor: "W") }
  }

  @Test func readsTheFileItOpenedAfterAnotherReplacedIt() throws {
    let (folder, path) = try Self.file()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try Self.open(path, onFirstUse: true)
    let tokens = [3, 8_999, 17, 3, 2_500]
    let expected = try InferenceModel(Self.open(path, onFirstUse: false)).predictNext(tokens: tokens, topK: 5)
    // A model with other weights renamed over the path: W_h and the columns are read from the
    // file that was opened, with its block checksums.
    let other = folder.appendingPathComponent("other.rnn").path
    try TestModels.make(h: Self.h, x: Self.x, seed: 8, scale: 0.2).write(to: other)
    #expect(rename(other, path) == 0)
    #expect(try InferenceModel(model).predictNext(tokens: tokens, topK: 5) == expected)
  }

  @Test func aCorruptRowOfVOrW_hFailsBeforePreparing() throws {
    for (tensor, column) in [("V", 0), ("W", 5)] {
      let (folder, path) = try Self.file { bytes, container in
        let at =
          tensor == "V"
          ? container.entry(named: "V")!.offset + 4 * (4_321 * Self.h + 7)
          : Self.offsetOfW(container, row: 33, column: column)
        bytes[at] ^= 0x01
      }
      defer { try? FileManager.default.removeItem(at: folder) }
      let model = try Self.open(path, onFirstUse: true)
      #expect { try InferenceModel(model) } throws: { Self.isCorrupt($0, tensor: tensor) }
    }
  }
}

/// An int8 V is read whole by every output, like a float V: in a 1.1 file opened with
/// `verifyOnFirstUse`, a corrupt block of it fails before the first product.
@Suite struct QuantizedVerifyOnFirstUseTests {
  @Test func aCorruptBlockOfAnInt8VFailsBeforePreparing() throws {
    // V is 9000×128 int8: 1.1 MiB, over the 1 MiB at which verification is deferred.
    let folder = try TestModels.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.rnn").path
    try TestModels.make(h: 128, x: 9_000, seed: 3, scale: 0.2).write(to: path, dtype: .i8)
    let container = try Container.open(path: path)
    #expect(container.minorVersion == 1)
    #expect(container.entry(named: "V")?.dtype.known == .i8)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[container.entry(named: "V")!.offset + 128 * 5_000 + 3] ^= 0x04
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    var options = ReadOptions()
    options.verifyOnFirstUse = true
    let model = try ElmanModel.load(path: path, options: options)
    #expect { try InferenceModel(model) } throws: { VerifyOnFirstUseTests.isCorrupt($0, tensor: "V") }
  }
}
