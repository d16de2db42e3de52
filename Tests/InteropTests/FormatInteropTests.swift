import Foundation
import RNNKit
import TestSupport
import Testing

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite(.requiresPython("numpy", "xxhash"))
struct FormatInteropTests {
  @Test(arguments: ["token-f32.rnn", "token-f16.rnn", "token-bf16.rnn", "token-f64.rnn", "dense-f32.rnn"])
  func anIndependentPythonReaderAgreesWithUs(name: String) throws {
    let path = fixtures.appendingPathComponent(name).path
    let result = try PythonClient.run(script: "scripts/interop/read_rnn.py", [path])
    #expect(result.status == 0, "\(result.stderrText)")
    let object = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
    let model = try ElmanModel.load(path: path)
    let tensors = object["tensors"] as! [String: [String: Any]]
    for (tensor, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      let entry = tensors[tensor]!
      #expect(entry["shape"] as! [Int] == parameter.shape)
      let values = flatten(entry["values"]!)
      // Both sides decode the same stored bits; the only loss is JSON's decimal text, which
      // Foundation parses to within one ulp, hence the 1e-15 relative tolerance.
      let ours = parameter.doubles()
      #expect(values.count == ours.count)
      for (theirs, mine) in zip(values, ours) {
        #expect(abs(theirs - mine) <= 1e-15 * max(1, abs(mine)), "\(name) \(tensor): \(theirs) vs \(mine)")
      }
    }
    let metadata = object["metadata"] as! [String: Any]
    #expect(metadata["rnn.hidden_activation"] as? String == model.hiddenActivation.rawValue)
    if let vocabulary = model.vocabulary {
      #expect(object["vocabulary"] as? [String] == vocabulary.tokens)
    }
  }

  @Test(arguments: ["f32", "f16"])
  func weReadWhatAnIndependentPythonWriterWrites(dtype: String) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-py-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("py.rnn").path
    let written = try PythonClient.run(
      script:
        "scripts/interop/write_rnn.py",
      [path, "--vocab", "50", "--hidden", "6", "--seed", "3", "--dtype", dtype])
    #expect(written.status == 0, "\(written.stderrText)")
    let model = try ElmanModel.load(path: path)
    #expect(model.hiddenSize == 6 && model.inputSize == 50 && model.outputSize == 50)
    #expect(model.W.dtype.description == dtype)
    #expect(model.vocabulary?[7] == "w7" && model.vocabulary?.id(of: "<unk>") == 0)
    // And the Python reader agrees with the values we decoded.
    let read = try PythonClient.run(script: "scripts/interop/read_rnn.py", [path])
    let object = try JSONSerialization.jsonObject(with: read.stdout) as! [String: Any]
    let tensors = object["tensors"] as! [String: [String: Any]]
    let theirs = flatten(tensors["V"]!["values"]!)
    for (a, b) in zip(theirs, model.V.doubles()) { #expect(abs(a - b) <= 1e-15 * max(1, abs(b))) }
    // The Python writer follows the canonical layout, so our rewrite is byte-identical.
    #expect(try model.encoded() == [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
  }

  private func flatten(_ value: Any) -> [Double] {
    if let array = value as? [Any] { return array.flatMap(flatten) }
    return [(value as! NSNumber).doubleValue]
  }
}

@Suite(.requiresPython("numpy", "xxhash"))
struct BlockChecksumInteropTests {
  /// A 1.1 file (a tensor over 1 MiB) read by the independent reader as a 1.1 reader, which checks
  /// every block checksum, and as a 1.0 reader, which sees the table as one more tensor.
  @Test func anIndependentReaderReadsFormat1_1AsA1_1AndAsA1_0Reader() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-py-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("blocks.rnn").path
    let big = (0..<((1 << 20) + 5000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try ContainerWriter.write(
      metadata: Metadata(),
      tensors: [
        TensorSource(name: "small", dtype: .f32, shape: [2], payload: .floats([1, 2])),
        TensorSource(name: "big", dtype: .u8, shape: [big.count], payload: .raw(big)),
      ], to: path)
    for asOld in [false, true] {
      let result = try PythonClient.run(
        script: "scripts/interop/read_rnn.py", [path] + (asOld ? ["--format-1.0"] : []))
      #expect(result.status == 0, "\(result.stderrText)")
      let object = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
      #expect(object["version"] as? String == "1.1")
      let tensors = object["tensors"] as! [String: [String: Any]]
      let blocks = 1 + (big.count + 4095) / 4096
      let expected = asOld ? ["big", "format.block_checksums", "small"] : ["big", "small"]
      #expect(tensors.keys.sorted() == expected)
      if asOld { #expect(tensors["format.block_checksums"]?["shape"] as? [Int] == [8 * blocks]) }
    }
  }
}
