import Foundation
import RNNKit
import Testing

/// RNNKit's ONNX files against the real clients: onnx.checker, onnxruntime and torch.onnx.export.
/// A client that fails to import fails `theClientsImport` (and the tests that call it), never skips.
@Suite struct ONNXInteropTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// Runs scripts/interop/onnx_client.py and returns its JSON output, failing on a nonzero exit.
  func client(_ arguments: [String]) throws -> [String: Any] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      ["python3", Self.root.appendingPathComponent("scripts/interop/onnx_client.py").path] + arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(
      process.terminationStatus == 0,
      "onnx_client.py \(arguments.first ?? "") failed: \(String(decoding: stderr, as: UTF8.self).suffix(2000))"
    )
    return try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
  }

  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A seeded model with weights in [-0.5, 0.5).
  static func model(kind: InputKind, f: HiddenActivation, g: OutputActivation, seed: UInt64) throws
    -> ElmanModel
  {
    var random = SplitMix64(seed: seed)
    func floats(_ count: Int) -> [Float] { (0..<count).map { _ in Float(random.nextUnit() - 0.5) } }
    let (h, x, o) = (5, kind == .tokens ? 7 : 3, 4)
    return try ElmanModel(
      W: Parameter(floats(h * (h + x)), shape: [h, h + x]), b: Parameter(floats(h), shape: [h]),
      V: Parameter(floats(o * h), shape: [o, h]), c: Parameter(floats(o), shape: [o]), hiddenActivation: f,
      outputActivation: g, inputKind: kind,
      vocabulary: kind == .tokens ? try Vocabulary((0..<x).map { "w\($0)" }) : nil,
      tokenizer: TokenizerSettings(level: .word, lowercase: false, splitPunctuation: true, unknownToken: nil))
  }

  /// Our forward pass over one sequence from `initial` (nil for zero): hidden states and outputs.
  static func forward(_ model: ElmanModel, tokens: [Int]?, vectors: [[Float]]?, initial: [Float]?) throws -> (
    hidden: [[Float]], output: [[Float]]
  ) {
    var session = InferenceSession(model: try InferenceModel(model))
    if let initial { try session.restore(hidden: initial) }
    var hidden: [[Float]] = []
    var output: [[Float]] = []
    for step in 0..<(tokens?.count ?? vectors?.count ?? 0) {
      output.append(
        try tokens.map { try session.feed(token: $0[step]) } ?? session.feed(vector: vectors![step]))
      hidden.append(session.hidden)
    }
    return (hidden, output)
  }

  /// |a − b| ≤ tolerance · max(1, |b|) for every element.
  static func close(_ a: [[Float]], _ b: [[Double]], tolerance: Double) -> Bool {
    a.count == b.count
      && zip(a, b).allSatisfy { x, y in
        x.count == y.count && zip(x, y).allSatisfy { abs(Double($0) - $1) <= tolerance * max(1, abs($1)) }
      }
  }

  @Test func theClientsImport() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import numpy, onnx, onnxruntime, torch"]
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "python3 cannot import numpy, onnx, onnxruntime and torch")
  }

  static let exportCases: [(InputKind, HiddenActivation, OutputActivation)] = [
    (.tokens, .tanh, .softmax), (.tokens, .relu, .sigmoid), (.tokens, .sigmoid, .identity),
    (.tokens, .identity, .softmax), (.dense, .tanh, .identity), (.dense, .relu, .softmax),
    (.dense, .softsign, .sigmoid), (.dense, .softplus, .softmax), (.dense, .elu, .identity),
    // silu runs as a Scan.
    (.tokens, .silu, .softmax), (.dense, .silu, .sigmoid),
  ]

  /// onnxruntime runs our file and agrees with our forward pass within 1e-5 (relu 1e-4 relative,
  /// since relu keeps large values), with and without initial_hidden; onnx.checker passes first.
  @Test(arguments: exportCases.indices)
  func onnxruntimeMatchesOurForwardPass(index: Int) throws {
    let (kind, f, g) = Self.exportCases[index]
    let model = try Self.model(kind: kind, f: f, g: g, seed: UInt64(10 + index))
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("m.onnx").path
    try ONNXFormat().write(model, to: path, options: ExportOptions())

    var random = SplitMix64(seed: 99)
    let (batch, steps) = (3, 6)
    let tokens = (0..<batch).map { _ in (0..<steps).map { _ in random.next(below: model.inputSize) } }
    let vectors = (0..<batch).map { _ in
      (0..<steps).map { _ in (0..<model.inputSize).map { _ in Float(random.nextUnit() * 2 - 1) } }
    }
    let initial = (0..<batch).map { _ in (0..<model.hiddenSize).map { _ in Float(random.nextUnit() - 0.5) } }
    let tolerance = f == .relu ? 1e-4 : 1e-5
    for withInitial in [false, true] {
      var request: [String: Any] = kind == .tokens ? ["tokens": tokens] : ["inputs": vectors]
      if withInitial { request["initial_hidden"] = initial }
      let requestPath = dir.appendingPathComponent("request.json")
      try JSONSerialization.data(withJSONObject: request).write(to: requestPath)
      let result = try client(["run", path, requestPath.path])
      #expect((result["opset"] as? Int ?? 0) >= 14)
      let hidden = try #require(result["hidden"] as? [[[Double]]])
      let output = try #require(result["output"] as? [[[Double]]])
      let final = try #require(result["final_hidden"] as? [[Double]])
      for row in 0..<batch {
        let ours = try Self.forward(
          model, tokens: kind == .tokens ? tokens[row] : nil, vectors: kind == .dense ? vectors[row] : nil,
          initial: withInitial ? initial[row] : nil)
        #expect(
          Self.close(ours.hidden, hidden[row], tolerance: tolerance), "\(kind) \(f) \(g) hidden row \(row)")
        #expect(
          Self.close(ours.output, output[row], tolerance: tolerance), "\(kind) \(f) \(g) output row \(row)")
        #expect(
          Self.close([ours.hidden.last!], [final[row]], tolerance: tolerance), "final_hidden row \(row)")
      }
      let metadata = try #require(result["metadata"] as? [String: String])
      #expect(
        metadata["rnn.hidden_activation"] == f.rawValue && metadata["rnn.output_activation"] == g.rawValue)
    }
    // And the file reads back as the same model, bit for bit.
    let back = try ONNXFormat().read(path: path, options: ImportOptions())
    #expect(back.W.floats() == model.W.floats() && back.b.floats() == model.b.floats())
    #expect(back.V.floats() == model.V.floats() && back.c.floats() == model.c.floats())
    #expect(back.hiddenActivation == f && back.outputActivation == g && back.inputKind == kind)
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    // Tokenizer settings are stored for token models only, as in `.rnn`.
    if kind == .tokens { #expect(back.tokenizer == model.tokenizer) }
  }

  static let torchCases: [(String, String, String)] = [
    ("token", "tanh", "softmax"), ("token", "relu", "none"), ("onehot", "tanh", "sigmoid"),
    ("dense", "tanh", "none"), ("dense", "relu", "softmax"),
  ]

  /// `torch.onnx.export` of nn.RNN (+ nn.Embedding or one-hot) + nn.Linear reads as a model whose
  /// forward pass matches torch's within 1e-5 (relu 1e-4 relative).
  @Test(arguments: torchCases.indices)
  func weReadWhatTorchExports(index: Int) throws {
    let (kind, nonlinearity, head) = Self.torchCases[index]
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("torch.onnx").path
    let result = try client(["torch", path, kind, nonlinearity, head])
    let vocabulary = kind == "dense" ? nil : (0..<9).map { "v\($0)" }
    let model = try ONNXFormat().read(path: path, options: ImportOptions(vocabularyTokens: vocabulary))
    #expect(model.inputKind == (kind == "dense" ? .dense : .tokens))
    #expect(model.hiddenActivation.rawValue == nonlinearity)
    #expect(model.outputActivation == ["softmax": .softmax, "sigmoid": .sigmoid, "none": .identity][head])
    let output = try #require(result["output"] as? [[[Double]]])
    let hidden = try #require(result["hidden"] as? [[[Double]]])
    let tolerance = nonlinearity == "relu" ? 1e-4 : 1e-5
    for row in 0..<output.count {
      let tokens = (result["tokens"] as? [[Int]])?[row]
      let vectors = (result["inputs"] as? [[[Double]]])?[row].map { $0.map(Float.init) }
      let ours = try Self.forward(model, tokens: tokens, vectors: vectors, initial: nil)
      #expect(Self.close(ours.hidden, hidden[row], tolerance: tolerance), "\(kind) hidden row \(row)")
      #expect(Self.close(ours.output, output[row], tolerance: tolerance), "\(kind) output row \(row)")
    }
    // A token model without a vocabulary names what to supply.
    if kind != "dense" {
      #expect {
        _ = try ONNXFormat().read(path: path, options: ImportOptions())
      } throws: { ($0 as? ONNXError)?.requestedInput == .vocabulary }
    }
  }

  /// Graphs outside the family fail in one line that names the node.
  @Test(arguments: [
    ("bidirectional", "(RNN): direction is bidirectional"), ("stacked", "(RNN): is a second RNN node"),
    ("lstm", "(LSTM): no RNN node"),
  ])
  func torchGraphsOutsideTheFamilyAreRefused(kind: String, reason: String) throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("\(kind).onnx").path
    _ = try client(["refused", path, kind])
    #expect {
      _ = try ONNXFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      let message = "\(error)"
      return message.contains(reason) && message.contains("node ") && !message.contains("\n")
    }
  }

  /// External data (written by onnx itself) is refused in one line, without opening the data file.
  @Test func externalDataIsRefused() throws {
    let dir = try folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try Self.model(kind: .dense, f: .tanh, g: .softmax, seed: 3)
    let source = dir.appendingPathComponent("m.onnx").path
    try ONNXFormat().write(model, to: source, options: ExportOptions())
    let path = dir.appendingPathComponent("external.onnx").path
    _ = try client(["external", source, path])
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("weights.bin").path))
    #expect {
      _ = try ONNXFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      let message = "\(error)"
      return message.contains("external") && !message.contains("\n")
    }
  }
}
