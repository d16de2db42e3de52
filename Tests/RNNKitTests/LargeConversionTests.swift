import Foundation
import RNNKit
import Testing

/// Conversions of models large enough for the writers' large-tensor paths: `.rnn` tensors of
/// 8 MiB and more are hashed on a second core from the file as written, HDF5 datasets over 8 MiB
/// are written in pieces, and both files go to disk behind the writer. None of that may change a
/// byte, nor let a damaged input through.
@Suite struct LargeConversionTests {
  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-large-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// W is 64 x 33,064 and V 33,000 x 64 floats: each just over 8 MiB.
  func largeModel() throws -> ElmanModel {
    let (h, x) = (64, 33_000)
    var random = SplitMix64(seed: 7)
    func floats(_ count: Int) -> [Float] {
      (0..<count).map { _ in Float(Int64(random.next() >> 40) - (1 << 23)) / Float(1 << 26) }
    }
    return try ElmanModel(
      W: Parameter(floats(h * (h + x)), shape: [h, h + x]), b: Parameter(floats(h), shape: [h]),
      V: Parameter(floats(x * h), shape: [x, h]), c: Parameter(floats(x), shape: [x]),
      hiddenActivation: .tanh, outputActivation: .softmax, inputKind: .tokens,
      vocabulary: try Vocabulary((0..<x).map { "t\($0)" }), tokenizer: TokenizerSettings(unknownToken: nil))
  }

  /// h5 -> rnn, isolated (the default) and trusted, gives the bytes of the in-memory encoder,
  /// which writes no file; rnn -> h5 gives a file that reads back to the same model.
  @Test func largeConversionsGiveTheGeneralEncoding() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let h5 = dir.appendingPathComponent("m.h5").path
    try PlainHDF5.write(try largeModel(), to: h5)
    let source = try ModelFormats.read(path: h5, isolation: .trusted)
    #expect(source.W.view != nil && source.V.view != nil, "the large datasets must be read in place")
    let expected = Data(try source.encoded())
    for (name, isolation) in [("isolated", IsolationPolicy()), ("trusted", .trusted)] {
      let rnn = dir.appendingPathComponent("\(name).rnn").path
      _ = try ModelConversion.convert(
        input: h5, output: rnn, options: ConversionOptions(isolation: isolation))
      // Compared as a Bool: a failure must not print megabytes.
      let same = try Data(contentsOf: URL(fileURLWithPath: rnn)) == expected
      #expect(same, "the \(name) conversion differs from the in-memory encoding")
    }
    let back = dir.appendingPathComponent("back.h5").path
    _ = try ModelConversion.convert(
      input: dir.appendingPathComponent("isolated.rnn").path, output: back, options: ConversionOptions())
    let round = try ModelFormats.read(path: back, isolation: .trusted)
    let sameWeights = round.W.floats() == source.W.floats() && round.V.floats() == source.V.floats()
    #expect(sameWeights, "the HDF5 written from the .rnn reads back to other weights")
  }

  /// A flipped bit in a large tensor of an `.rnn` input fails every conversion with the input's
  /// checksum error, and leaves no output, not even a temporary file.
  @Test(arguments: ["out.h5", "out.rnn", "out.safetensors"])
  func aDamagedInputLeavesNoOutput(output: String) throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = dir.appendingPathComponent("in.rnn").path
    try largeModel().write(to: input)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: input))
    // Half way through the file: inside W or V, far from the header and the small tensors.
    bytes[bytes.count / 2] ^= 0x10
    try bytes.write(to: URL(fileURLWithPath: input))
    let target = dir.appendingPathComponent(output).path
    #expect {
      _ = try ModelConversion.convert(input: input, output: target, options: ConversionOptions())
    } throws: { error in
      guard let error = error as? ContainerError, case .checksumMismatch = error.error else { return false }
      return error.path == input
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["in.rnn"])
  }
}
