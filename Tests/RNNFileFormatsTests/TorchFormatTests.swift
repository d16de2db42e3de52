import Foundation
import RNNFormat
import RNNModel
import Testing

@testable import RNNFileFormats

/// The PyTorch formats on their own, without torch: round trips, the state-dict mapping's refusals,
/// and the restricted unpickler's refusals and caps. TorchInteropTests runs the real torch.
@Suite struct TorchFormatTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-pt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  func cuisine() throws -> ElmanModel {
    try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/cuisine.rnn").path, options: ImportOptions())
  }

  func prefix(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
  }

  @Test(arguments: ["pt", "safetensors"]) func roundTripKeepsEverything(_ kind: String) throws {
    let model = try cuisine()
    let path = try temporaryFolder().appendingPathComponent("m.\(kind)").path
    let format: any ModelFileFormat = kind == "pt" ? PyTorchFormat() : TorchSafetensorsFormat()
    try format.write(model, to: path, options: ExportOptions())
    #expect(format.recognizes(path: path, prefix: try prefix(path)))
    #expect(!SafetensorsFormat().recognizes(path: path, prefix: try prefix(path)))
    let back = try format.read(path: path, options: ImportOptions())
    #expect(back.W.floats() == model.W.floats() && back.b.floats() == model.b.floats())
    #expect(back.V.floats() == model.V.floats() && back.c.floats() == model.c.floats())
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens && back.inputKind == .tokens)
    #expect(
      back.hiddenActivation == model.hiddenActivation && back.outputActivation == model.outputActivation)
    #expect(back.tokenizer == model.tokenizer)
  }

  @Test func ptStoragesAreAlignedAndReadInPlace() throws {
    let path = try temporaryFolder().appendingPathComponent("m.pt").path
    try PyTorchFormat().write(try cuisine(), to: path, options: ExportOptions(dtype: .f16))
    let zip = try ZipArchive(mapping: path)
    for entry in zip.entries where entry.name.hasPrefix("archive/data/") {
      #expect(entry.dataOffset % 64 == 0 && entry.method == .stored)
    }
    let back = try PyTorchFormat().read(path: path, options: ImportOptions())
    #expect(back.V.dtype == .f16)
    if case .view = back.V.storage {} else { Issue.record("V was copied, not viewed in place") }
  }

  /// Writes a torch-named safetensors file of zero tensors with these shapes.
  func stateDict(_ shapes: [String: [Int]], metadata: [String: String] = [:]) throws -> String {
    let path = try temporaryFolder().appendingPathComponent("s.safetensors").path
    let tensors = shapes.sorted { $0.key < $1.key }.map { name, shape in
      (name: name, shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0 % 7) / 7 })
    }
    var all = metadata
    all["rnn.hidden_activation"] = all["rnn.hidden_activation"] ?? "tanh"
    all["rnn.output_activation"] = all["rnn.output_activation"] ?? "identity"
    try SafetensorsFile.write(tensors, dtype: .f32, metadata: all, to: path, overwrite: false)
    return path
  }

  static let simple: [String: [Int]] = [
    "rnn.weight_ih_l0": [4, 3], "rnn.weight_hh_l0": [4, 4], "rnn.bias_ih_l0": [4], "rnn.bias_hh_l0": [4],
    "fc.weight": [2, 4], "fc.bias": [2],
  ]

  func refusal(_ path: String, options: ImportOptions = ImportOptions()) -> (String, ModelInput?) {
    do {
      _ = try TorchSafetensorsFormat().read(path: path, options: options)
      return ("", nil)
    } catch {
      return ("\(error)", (error as? any ModelInputRequest)?.requestedInput)
    }
  }

  @Test func refusesWhatAnElmanModelCannotHold() throws {
    var twoLayers = Self.simple
    twoLayers["rnn.weight_ih_l1"] = [4, 4]
    #expect(refusal(try stateDict(twoLayers)).0.contains("\"rnn.weight_ih_l1\": belongs to a second layer"))
    var bidirectional = Self.simple
    bidirectional["rnn.weight_ih_l0_reverse"] = [4, 3]
    #expect(
      refusal(try stateDict(bidirectional)).0.contains(
        "\"rnn.weight_ih_l0_reverse\": belongs to a bidirectional"))
    var lstm = Self.simple
    lstm["rnn.weight_ih_l0"] = [16, 3]
    lstm["rnn.weight_hh_l0"] = [16, 4]
    #expect(refusal(try stateDict(lstm)).0.contains("an LSTM"))
    var gru = Self.simple
    gru["rnn.weight_ih_l0"] = [12, 3]
    gru["rnn.weight_hh_l0"] = [12, 4]
    #expect(refusal(try stateDict(gru)).0.contains("a GRU"))
    for message in [twoLayers, bidirectional, lstm, gru].map({ try! refusal(stateDict($0)).0 }) {
      #expect(!message.contains("\n") && !message.contains("--"))
    }
  }

  @Test func severalRecurrentModulesNeedAPrefix() throws {
    var shapes: [String: [Int]] = [:]
    for (module, x) in [("encoder", 3), ("decoder", 5)] {
      for (name, shape) in Self.simple {
        let adjusted = name == "rnn.weight_ih_l0" ? [4, x] : shape
        shapes["\(module).\(name)"] = module == "decoder" && name == "fc.weight" ? [6, 4] : adjusted
      }
      if module == "decoder" { shapes["decoder.fc.bias"] = [6] }
    }
    let path = try stateDict(shapes)
    let (message, input) = refusal(path)
    #expect(input == .modulePrefix && message.contains("\"decoder.rnn.\""))
    let model = try TorchSafetensorsFormat().read(
      path: path, options: ImportOptions(modulePrefix: "decoder.rnn"))
    // The output layer beside the chosen RNN: decoder.fc, with 6 outputs.
    #expect(model.inputSize == 5 && model.outputSize == 6)
    #expect(refusal(path, options: ImportOptions(modulePrefix: "nope")).1 == .modulePrefix)
  }

  @Test func embeddingIsFoldedAndVocabularyMakesTokens() throws {
    var shapes = Self.simple
    shapes["embedding.weight"] = [9, 3]
    let path = try stateDict(shapes)
    let dense = try TorchSafetensorsFormat().read(path: path, options: ImportOptions())
    #expect(dense.inputKind == .dense && dense.inputSize == 9)
    let tokens = try TorchSafetensorsFormat().read(
      path: path, options: ImportOptions(vocabularyTokens: (0..<9).map { "w\($0)" }))
    #expect(tokens.inputKind == .tokens)
    // Column v of W_x is weight_ih · embedding[v].
    let file = try SafetensorsFile(path: path)
    let wih = try file.parameter("rnn.weight_ih_l0").floats()
    let e = try file.parameter("embedding.weight").floats()
    let w = tokens.W.floats()
    for i in 0..<4 {
      for v in 0..<9 {
        let expected = (0..<3).reduce(Float(0)) { $0 + wih[i * 3 + $1] * e[v * 3 + $1] }
        #expect(abs(w[i * 13 + 4 + v] - expected) <= 1e-6)
      }
    }
  }

  // MARK: The unpickler

  /// A `.pt` archive whose data.pkl is `pickle`, with one 64-float storage "0".
  func archive(_ pickle: [UInt8]) throws -> String {
    let path = try temporaryFolder().appendingPathComponent("p.pt").path
    var bytes: [UInt8] = []
    var writer = ZipWriter { bytes += $0 }
    try writer.addStored(name: "archive/data.pkl", contents: pickle)
    try writer.addStored(name: "archive/data/0", contents: [UInt8](repeating: 0, count: 256), alignment: 64)
    try writer.finish()
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  func pickleRefusal(_ pickle: [UInt8]) throws -> String {
    do {
      _ = try PyTorchFormat().read(
        path: try archive(pickle),
        options: ImportOptions(hiddenActivation: .tanh, outputActivation: .identity))
      return ""
    } catch {
      return "\(error)"
    }
  }

  /// Pickle bytes written as text: each scalar (all below 256) is one byte.
  func bytes(_ text: String) -> [UInt8] { text.unicodeScalars.map { UInt8($0.value) } }

  @Test func refusesGlobalsAndWholeModules() throws {
    let module = try pickleRefusal([0x80, 2] + bytes("ctorch.nn.modules.rnn\nRNN\n)\u{81}."))
    #expect(
      module.contains("whole pickled module (torch.nn.modules.rnn.RNN)") && module.contains("state_dict()"))
    let system = try pickleRefusal([0x80, 2] + bytes("cposix\nsystem\nX\u{4}\0\0\0trueR."))
    #expect(system.contains("posix.system") && system.contains("not imported or run"))
    let stackGlobal = try pickleRefusal([0x80, 4] + bytes("\u{8c}\u{8}builtins\u{8c}\u{4}eval\u{93}."))
    #expect(stackGlobal.contains("builtins.eval"))
    for message in [module, system, stackGlobal] { #expect(!message.contains("\n")) }
  }

  @Test func capsAndBoundsHold() throws {
    // Tuples nested past the depth cap.
    let deep = try pickleRefusal([0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 100) + [0x2E])
    #expect(deep.contains("deeper than"))
    // The stack past its cap.
    let tall = try pickleRefusal([0x80, 2] + [UInt8](repeating: 0x4E, count: 100_001) + [0x2E])
    #expect(tall.contains("stack grows past"))
    // A tensor reaching past its 64-element storage (offset 1, 8×8), and an expanded view
    // (100 elements with stride 0).
    func tensor(_ offsetSizeStride: String) -> [UInt8] {
      [0x80, 2]
        + bytes(
          "}(X\u{10}\0\0\0rnn.weight_ih_l0ctorch._utils\n_rebuild_tensor_v2\n((X\u{7}\0\0\0storagectorch\nFloatStorage\nX\u{1}\0\0\u{0}0X\u{3}\0\0\0cpuK@tQ"
            + offsetSizeStride + "\u{89}}tRu.")
    }
    let past = try pickleRefusal(tensor("K\u{1}K\u{8}K\u{8}\u{86}K\u{8}K\u{1}\u{86}"))
    #expect(past.contains("reaches past the 64 elements"))
    let expanded = try pickleRefusal(tensor("K\u{0}Kd\u{85}K\u{0}\u{85}"))
    #expect(expanded.contains("an expanded view"))
    // An opcode state dicts do not use (INST, protocol 0).
    #expect(try pickleRefusal([0x80, 2] + bytes("iposix\nsystem\n.")).contains("not one a state dict uses"))
  }

  @Test func legacyAndTruncatedFilesFailInOneLine() throws {
    let folder = try temporaryFolder()
    let legacy = folder.appendingPathComponent("legacy.pt").path
    try Data(TorchArchive.legacyMagic + [0x2E]).write(to: URL(fileURLWithPath: legacy))
    #expect(PyTorchFormat().recognizes(path: legacy, prefix: try prefix(legacy)))
    #expect(throws: PyTorchError.self) {
      _ = try PyTorchFormat().read(path: legacy, options: ImportOptions())
    }
    let path = folder.appendingPathComponent("m.pt").path
    var small = try cuisine()
    small.vocabulary = nil
    small.inputKind = .dense
    try PyTorchFormat().write(small, to: path, options: ExportOptions())
    let whole = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let cut = folder.appendingPathComponent("cut.pt")
    for length in stride(from: 0, to: whole.count, by: max(1, whole.count / 500)) {
      try Data(whole[0..<length]).write(to: cut)
      do {
        _ = try PyTorchFormat().read(path: cut.path, options: ImportOptions())
        Issue.record("a file cut at \(length) bytes was read")
      } catch {
        #expect(!"\(error)".contains("\n"))
      }
    }
  }
}
