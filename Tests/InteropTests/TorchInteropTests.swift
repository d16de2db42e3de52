import Foundation
import RNNKit
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

private struct ClientFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs scripts/interop/torch_client.py. A failure (torch missing included) fails the test.
private func torchClient(_ arguments: [String]) throws -> [String: Any] {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments =
    ["python3", root.appendingPathComponent("scripts/interop/torch_client.py").path] + arguments
  var environment = ProcessInfo.processInfo.environment
  environment["CUDA_VISIBLE_DEVICES"] = ""
  process.environment = environment
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  guard process.terminationStatus == 0,
    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
  else {
    throw ClientFailure(description: "torch_client.py \(arguments.first ?? "") failed: \(errors)")
  }
  return object
}

private func floats(_ value: Any?) -> [[Float]] {
  (value as! [[Double]]).map { $0.map(Float.init) }
}

/// The largest |a - b| / max(1, |b|) over two sequences of output vectors.
private func worstError(_ a: [[Float]], _ b: [[Float]]) -> Float {
  precondition(a.count == b.count)
  var worst: Float = 0
  for (x, y) in zip(a, b) {
    precondition(x.count == y.count)
    for (p, q) in zip(x, y) { worst = max(worst, abs(p - q) / max(1, abs(q))) }
  }
  return worst
}

/// RNNKit's PyTorch bridge against the real torch (CPU): files torch writes read here and run the
/// same forward pass; files written here load in torch with weights_only=True; pickles that would
/// run code are refused without running it.
@Suite(.serialized) struct TorchInteropTests {
  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-torch-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func stateDictCheckpointAndSafetensorsFromTorchRunAsInTorch() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let made = try torchClient(["make", dir.path, "tanh"])
    let inputs = floats(made["inputs"])
    let expected = floats(made["outputs"])
    let options = ImportOptions(hiddenActivation: .tanh, outputActivation: .identity)
    for file in ["state.pt", "checkpoint.pt", "state.safetensors", "strided.pt"] {
      let path = dir.appendingPathComponent(file).path
      let format = try ModelFormats.detect(path: path)
      #expect(format.name == (file.hasSuffix(".pt") ? "pytorch" : "torch-safetensors"))
      let model = try format.read(path: path, options: options)
      #expect(
        model.hiddenSize == 6 && model.inputSize == 4 && model.outputSize == 3 && model.inputKind == .dense)
      let outputs = try InferenceModel(model).forward(vectors: inputs).outputs
      // Tolerance: 1e-5 relative (float32 sums in a different order).
      #expect(worstError(outputs, expected) < 1e-5, "\(file)")
    }
    // The checkpoint's state dict is found under model_state_dict, or named explicitly.
    var keyed = options
    keyed.stateDictKey = "model_state_dict"
    _ = try PyTorchFormat().read(path: dir.appendingPathComponent("checkpoint.pt").path, options: keyed)
    keyed.stateDictKey = "optimizer_state_dict"
    #expect(throws: PyTorchError.self) {
      _ = try PyTorchFormat().read(path: dir.appendingPathComponent("checkpoint.pt").path, options: keyed)
    }
    // Without activations, the error asks for them by name.
    #expect {
      _ = try PyTorchFormat().read(
        path: dir.appendingPathComponent("state.pt").path, options: ImportOptions())
    } throws: { error in
      (error as? any ModelInputRequest)?.requestedInput == .hiddenActivation
    }
    // An input of size X with a vocabulary of X tokens is a token model; one-hot inputs match.
    var tokens = options
    tokens.vocabularyTokens = ["a", "b", "c", "d"]
    let tokenModel = try PyTorchFormat().read(
      path: dir.appendingPathComponent("state.pt").path, options: tokens)
    #expect(tokenModel.inputKind == .tokens)
    let dense = try PyTorchFormat().read(path: dir.appendingPathComponent("state.pt").path, options: options)
    let oneHot = (0..<4).map { k in (0..<4).map { $0 == k ? Float(1) : 0 } }
    #expect(
      worstError(
        try InferenceModel(tokenModel).forward(tokens: [0, 1, 2, 3]).outputs,
        try InferenceModel(dense).forward(vectors: oneHot).outputs) < 1e-6)
  }

  @Test func embeddingIsFoldedAndReluMatchesTorch() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let made = try torchClient(["make", dir.path, "relu", "embedding"])
    let ids = made["inputs"] as! [Int]
    let expected = floats(made["outputs"])
    let vocabulary = (0..<7).map { "t\($0)" }
    for file in ["state.pt", "checkpoint.pt", "state.safetensors"] {
      let model = try ModelFormats.read(
        path: dir.appendingPathComponent(file).path,
        options: ImportOptions(
          vocabularyTokens: vocabulary, hiddenActivation: .relu, outputActivation: .identity))
      #expect(model.inputKind == .tokens && model.inputSize == 7)
      // Tolerance: 1e-4 relative for relu (the folded embedding sums in another order).
      #expect(worstError(try InferenceModel(model).forward(tokens: ids).outputs, expected) < 1e-4, "\(file)")
    }
  }

  @Test func torchLoadsWhatWeWrite() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try torchClient(["make", dir.path, "relu", "embedding"])
    let vocabulary = (0..<7).map { "t\($0)" }
    let model = try ModelFormats.read(
      path: dir.appendingPathComponent("state.pt").path,
      options: ImportOptions(
        vocabularyTokens: vocabulary, hiddenActivation: .relu, outputActivation: .softmax))
    for (file, format) in [("ours.pt", "pytorch"), ("ours.safetensors", "torch-safetensors")] {
      let path = dir.appendingPathComponent(file).path
      try ModelFormats.named(format).write(model, to: path, options: ExportOptions())
      let ran = try torchClient(["run", path, "relu", "7", "6", "3"])
      #expect(
        ran["keys"] as? [String] == [
          "fc.bias", "fc.weight", "rnn.bias_hh_l0", "rnn.bias_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l0",
        ])
      // torch's logits (fc output) on dense inputs against ours: the same weights as a dense model
      // with g = identity.
      var logits = model
      logits.outputActivation = .identity
      logits.inputKind = .dense
      logits.vocabulary = nil
      let ours = try InferenceModel(logits).forward(vectors: floats(ran["inputs"])).outputs
      #expect(worstError(ours, floats(ran["outputs"])) < 1e-4, "\(file)")
      // Read back: vocabulary and activations survive in the archive entry / __metadata__.
      let back = try ModelFormats.read(path: path)
      #expect(back.vocabulary?.tokens == vocabulary && back.hiddenActivation == .relu)
      #expect(back.outputActivation == .softmax && back.W.floats() == model.W.floats())
    }
    // f must be one nn.RNN has.
    var sigmoid = model
    sigmoid.hiddenActivation = .sigmoid
    #expect(throws: PyTorchError.self) {
      try PyTorchFormat().write(
        sigmoid, to: dir.appendingPathComponent("x.pt").path, options: ExportOptions())
    }
  }

  @Test func protocolsParametersHalfModulesAndTorchScript() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let made = try torchClient(["variants", dir.path])
    let inputs = floats(made["inputs"])
    let options = ImportOptions(hiddenActivation: .tanh, outputActivation: .identity)
    for (file, key) in [
      ("protocol4.pt", "outputs"), ("protocol5.pt", "outputs"), ("parameters.pt", "outputs"),
      ("half.pt", "half"),
    ] {
      let model = try PyTorchFormat().read(path: dir.appendingPathComponent(file).path, options: options)
      #expect(model.W.dtype == (file == "half.pt" ? .f16 : .f32))
      // Tolerance: 1e-5 relative (the f16 file against torch on the same f16-rounded weights).
      #expect(
        worstError(try InferenceModel(model).forward(vectors: inputs).outputs, floats(made[key])) < 1e-5,
        "\(file)")
    }
    for (file, expected) in [("module.pt", "save model.state_dict() instead"), ("script.pt", "TorchScript")] {
      do {
        _ = try PyTorchFormat().read(path: dir.appendingPathComponent(file).path, options: options)
        Issue.record("\(file) was read")
      } catch {
        #expect("\(error)".contains(expected) && !"\(error)".contains("\n"), "\(error)")
      }
    }
  }

  @Test func codeInAPickleIsNeverRun() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    for kind in ["system", "eval"] {
      let canary = dir.appendingPathComponent("CANARY-\(kind)").path
      let path = dir.appendingPathComponent("\(kind).pt").path
      _ = try torchClient(["gadget", path, canary, kind])
      let message = try #require(
        {
          do {
            _ = try ModelFormats.read(
              path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
            return nil
          } catch { return "\(error)" }
        }() as String?)
      #expect(
        message.contains(kind == "system" ? "posix.system" : ".eval") && !message.contains("\n"), "\(message)"
      )
      #expect(!FileManager.default.fileExists(atPath: canary))
    }
  }

  @Test func hostileArchivesFailInOneLine() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = try torchClient(["make", dir.path, "tanh"])
    let original = [UInt8](try Data(contentsOf: dir.appendingPathComponent("state.pt")))
    let zip = try ZipArchive(storage: ByteStorage(copying: original))
    func centralOffset(_ bytes: [UInt8]) -> Int {
      Int(bytes[bytes.count - 6]) | Int(bytes[bytes.count - 5]) << 8 | Int(bytes[bytes.count - 4]) << 16
        | Int(bytes[bytes.count - 3]) << 24
    }
    func centralEntry(_ bytes: [UInt8], _ index: Int) -> Int {
      var cursor = centralOffset(bytes)
      for _ in 0..<index {
        let name = Int(bytes[cursor + 28]) | Int(bytes[cursor + 29]) << 8
        let extra = Int(bytes[cursor + 30]) | Int(bytes[cursor + 31]) << 8
        let comment = Int(bytes[cursor + 32]) | Int(bytes[cursor + 33]) << 8
        cursor += 46 + name + extra + comment
      }
      return cursor
    }
    let storageIndex = try #require(zip.entries.firstIndex { $0.name.hasSuffix("/data/0") })
    let entry = centralEntry(original, storageIndex)
    var outside = original
    outside[(entry + 42)..<(entry + 46)] = [0x00, 0x00, 0x00, 0x70]
    var huge = original
    huge[(entry + 20)..<(entry + 28)] = [0xFE, 0xFF, 0xFF, 0x7F, 0xFE, 0xFF, 0xFF, 0x7F]
    var duplicate = original
    // Rename data/1 to data/0 in its local header and in the directory.
    let one = try #require(zip.entries.first { $0.name.hasSuffix("/data/1") })
    let nameLength = one.name.utf8.count
    duplicate[one.headerOffset + 30 + nameLength - 1] = UInt8(ascii: "0")
    let oneIndex = try #require(zip.entries.firstIndex { $0.name == one.name })
    duplicate[centralEntry(original, oneIndex) + 46 + nameLength - 1] = UInt8(ascii: "0")
    for (name, bytes, expected) in [
      ("outside", outside, "outside"), ("huge", huge, "outside"), ("duplicate", duplicate, "appears twice"),
    ] {
      let path = dir.appendingPathComponent("\(name).pt").path
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let message: String
      do {
        _ = try PyTorchFormat().read(
          path: path, options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
        message = ""
      } catch {
        message = "\(error)"
      }
      #expect(message.contains(expected) && !message.contains("\n"), "\(name): \(message)")
    }
  }
}
