import Foundation
import RNNKit
import TestSupport
import Testing

private let root = PythonClient.repositoryRoot

private func client(_ arguments: [String]) throws -> [String: Any] {
  let result = try PythonClient.run(script: "scripts/interop/safetensors_client.py", arguments)
  #expect(result.status == 0, "\(result.stderrText)")
  return try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
}

@Suite(.requiresPython("numpy", "safetensors"))
struct SafetensorsInteropTests {
  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func theSafetensorsLibraryReadsWhatWeWrite() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try ModelFormats.read(path: root.appendingPathComponent("Fixtures/cuisine.rnn").path)
    let path = dir.appendingPathComponent("cuisine.safetensors").path
    try SafetensorsFormat().write(model, to: path, options: ExportOptions())
    let object = try client(["read", path])
    let tensors = object["tensors"] as! [String: [String: Any]]
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect(tensors[name]?["dtype"] as? String == "float32")
      #expect(tensors[name]?["shape"] as? [Int] == parameter.shape)
      // f32 values through JSON: exact after rounding back to Float.
      let values = (tensors[name]?["values"] as! [Double]).map(Float.init)
      #expect(values == parameter.floats(), "\(name)")
    }
    let metadata = object["metadata"] as! [String: String]
    #expect(metadata["rnn.hidden_activation"] == "tanh")
    let vocabulary =
      try JSONSerialization.jsonObject(with: Data(metadata["rnnkit.vocabulary"]!.utf8)) as! [String]
    #expect(vocabulary == model.vocabulary?.tokens)
    // And our own reader gives the model back whole.
    let back = try ModelFormats.read(path: path)
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens && back.W.floats() == model.W.floats())
  }

  @Test func weReadWhatTheSafetensorsLibraryWrites() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("dense.safetensors").path
    let written = try client(["write", path])
    let model = try ModelFormats.read(path: path)
    #expect(
      model.inputKind == .dense && model.hiddenActivation == .relu && model.outputActivation == .sigmoid)
    let tensors = written["tensors"] as! [String: [String: Any]]
    for (name, parameter) in [("W", model.W), ("b", model.b), ("V", model.V), ("c", model.c)] {
      #expect((tensors[name]?["values"] as! [Double]).map(Float.init) == parameter.floats(), "\(name)")
    }
  }
}
