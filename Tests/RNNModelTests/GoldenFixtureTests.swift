import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@Suite struct GoldenFixtureTests {
  @Test(arguments: try GoldenFixtures.all().map(\.name))
  func rewriteIsByteIdentical(name: String) throws {
    let path = GoldenFixtures.path(name)
    if ProcessInfo.processInfo.environment["RNNKIT_REGENERATE_FIXTURES"] == "1" {
      let (_, model, dtype) = try GoldenFixtures.all().first { $0.name == name }!
      try model.write(to: path, dtype: dtype, overwrite: true)
    }
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let model = try ElmanModel.load(path: path)
    #expect(try model.encoded() == original, "rewriting \(name) changed its bytes: the format drifted")
  }

  @Test(arguments: try GoldenFixtures.all().map(\.name))
  func generatorStillProducesTheGoldenBytes(name: String) throws {
    let fixture = try GoldenFixtures.all().first { $0.name == name }!
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GoldenFixtures.path(fixture.name))))
    #expect(try fixture.model.encoded(dtype: fixture.dtype) == original)
  }

  @Test func dtypesDecodeToTheF32ValuesWithinTheirPrecision() throws {
    let reference = try ElmanModel.load(path: GoldenFixtures.path("token-f32.rnn"))
    // Relative precision of each encoding: half has 11 significant bits, bfloat16 8, f64 more than f32.
    let tolerances: [DType: Float] = [.f16: 1e-3, .bf16: 8e-3, .f64: 0]
    for (dtype, tolerance) in tolerances {
      let model = try ElmanModel.load(path: GoldenFixtures.path("token-\(dtype).rnn"))
      #expect(model.W.dtype == dtype)
      for (a, b) in zip(reference.W.floats(), model.W.floats()) {
        #expect(a.isApproximatelyEqual(to: b, absoluteTolerance: tolerance * 0.5 + 1e-7))
      }
    }
  }
}

/// With `memoryMap` off the model lives in memory: truncating the file afterwards cannot affect it
/// (a mapping would fault with SIGBUS on the lost pages).
@Suite struct UnmappedReadTests {
  @Test func aReadModelSurvivesTheFileBeingTruncated() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-nommap-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("m.rnn").path
    try FileManager.default.copyItem(atPath: GoldenFixtures.path("token-f32.rnn"), toPath: path)
    var options = ReadOptions()
    options.memoryMap = false
    let model = try ElmanModel.load(path: path, options: options)
    let before = model.W.floats()
    // Truncate in place, as a careless writer would.
    let handle = try #require(FileHandle(forWritingAtPath: path))
    try handle.truncate(atOffset: 0)
    try handle.close()
    #expect(model.W.floats() == before)
    #expect(model.vocabulary?.tokens.count == model.inputSize)
  }
}
