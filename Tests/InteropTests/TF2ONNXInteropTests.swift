import Foundation
import RNNKit
import TestSupport
import Testing

/// Keras SimpleRNN models converted by the real tf2onnx (TensorFlow 2.15, in .venv-tf2onnx), read by
/// RNNKit and run against onnxruntime's run of the same file and Keras' own predict. A missing
/// client fails under `RNNKIT_REQUIRE_INTEROP=1`, never skips.
@Suite(.requiresTF2ONNX, .requiresPython("numpy", "onnxruntime"))
struct TF2ONNXInteropTests {
  /// One converted model with its inputs and what Keras and onnxruntime computed from them.
  struct Case: Sendable {
    /// The ONNX file, kept in memory: the folder the clients wrote is removed once read.
    var bytes: Data
    var opset: Int
    var operators: [String]
    var tokens: [[Int]]?
    var vectors: [[[Float]]]?
    /// [batch][step][output]: every step, or only the last one (one step per row).
    var keras: [[[Double]]]
    var onnxruntime: [[[Double]]]
  }

  /// Every case, made once per test run: one TensorFlow process converts them all (importing it
  /// takes seconds), one python3 process runs them in onnxruntime.
  static let cases: Result<[String: Case], any Error> = Result { try makeCases() }

  static func makeCases() throws -> [String: Case] {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-tf2onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let script = PythonClient.repositoryRoot.appendingPathComponent("scripts/interop/tf2onnx_client.py").path
    for (step, interpreter) in [("make", PythonClient.tf2onnxPython), ("run", nil)] {
      let result = try PythonClient.run([script, step, folder.path], interpreter: interpreter)
      guard result.status == 0, result.reason == .exit else {
        throw ClientFailure(description: "tf2onnx_client.py \(step): \(result.stderrText.suffix(2000))")
      }
    }
    let data = try Data(contentsOf: folder.appendingPathComponent("cases.json"))
    guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
      throw ClientFailure(description: "cases.json is not a list of cases")
    }
    func steps(_ value: Any?) -> [[[Double]]] {
      if let sequences = value as? [[[Double]]] { return sequences }
      return (value as? [[Double]] ?? []).map { [$0] }
    }
    var cases: [String: Case] = [:]
    for entry in list {
      guard let name = entry["name"] as? String, let path = entry["path"] as? String else { continue }
      let tokens = entry["tokens"] as? Bool == true
      cases[name] = Case(
        bytes: try Data(contentsOf: URL(fileURLWithPath: path)), opset: entry["opset"] as? Int ?? 0,
        operators: entry["ops"] as? [String] ?? [],
        tokens: tokens ? entry["inputs"] as? [[Int]] : nil,
        vectors: tokens ? nil : (entry["inputs"] as? [[[Double]]])?.map { $0.map { $0.map(Float.init) } },
        keras: steps(entry["keras"]), onnxruntime: steps(entry["onnxruntime"]))
    }
    return cases
  }

  struct ClientFailure: Error, CustomStringConvertible {
    var description: String
  }

  static func fixture(_ name: String) throws -> Case {
    try #require(try cases.get()[name], "tf2onnx_client.py made no case \(name)")
  }

  /// Writes a case's file into a new folder, for the reader, which takes paths.
  static func file(_ fixture: Case) throws -> (path: String, folder: URL) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-tf2onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent("model.onnx").path
    try fixture.bytes.write(to: URL(fileURLWithPath: path))
    return (path, folder)
  }

  static let tokenVocabulary = (0..<9).map { "t\($0)" }

  /// (case, f, g, outputs every step) for the models RNNKit reads.
  static let accepted: [(String, HiddenActivation, OutputActivation, Bool)] = [
    ("token_tanh_last", .tanh, .softmax, false), ("dense_relu_last", .relu, .identity, false),
    ("dense_tanh_sequence", .tanh, .sigmoid, true), ("token_relu_timedistributed", .relu, .softmax, true),
    ("dense_sigmoid_nobias", .sigmoid, .softmax, false), ("dense_linear_sequence", .identity, .softmax, true),
    // Fixed shapes: a constant step count; with a fixed batch, Gemms in the body.
    ("token_tanh_fixed_length", .tanh, .softmax, false), ("dense_relu_fixed_batch", .relu, .identity, true),
  ]

  /// |a − b| ≤ tolerance · max(1, |b|) for every element.
  static func close(_ a: [[Float]], _ b: [[Double]], tolerance: Double) -> Bool {
    a.count == b.count
      && zip(a, b).allSatisfy { x, y in
        x.count == y.count && zip(x, y).allSatisfy { abs(Double($0) - $1) <= tolerance * max(1, abs($1)) }
      }
  }

  /// The Loop tf2onnx writes reads as an Elman model whose outputs match onnxruntime's run of the
  /// same file and Keras' predict within 1e-5 (relu 1e-4 relative, since relu keeps large values).
  @Test(arguments: accepted.indices)
  func readsWhatTF2ONNXWritesForSimpleRNN(index: Int) throws {
    let (name, f, g, everyStep) = Self.accepted[index]
    let fixture = try Self.fixture(name)
    let (path, folder) = try Self.file(fixture)
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(fixture.opset >= 14 && fixture.operators.contains("Loop") && !fixture.operators.contains("RNN"))
    let tokens = fixture.tokens != nil
    let model = try ONNXFormat().read(
      path: path, options: ImportOptions(vocabularyTokens: tokens ? Self.tokenVocabulary : nil))
    #expect(model.hiddenActivation == f && model.outputActivation == g)
    #expect(model.inputKind == (tokens ? .tokens : .dense))
    let tolerance = f == .relu ? 1e-4 : 1e-5
    let rows = fixture.tokens?.count ?? fixture.vectors?.count ?? 0
    #expect(rows == 3 && fixture.keras.count == rows && fixture.onnxruntime.count == rows)
    for row in 0..<rows {
      var session = InferenceSession(model: try InferenceModel(model))
      var outputs: [[Float]] = []
      for step in 0..<(fixture.tokens?[row].count ?? fixture.vectors?[row].count ?? 0) {
        outputs.append(
          try fixture.tokens.map { try session.feed(token: $0[row][step]) }
            ?? session.feed(vector: fixture.vectors![row][step]))
      }
      let compared = everyStep ? outputs : outputs.suffix(1)
      #expect(outputs.count == 6)
      #expect(
        Self.close(compared, fixture.onnxruntime[row], tolerance: tolerance), "\(name) onnxruntime row \(row)"
      )
      #expect(Self.close(compared, fixture.keras[row], tolerance: tolerance), "\(name) Keras row \(row)")
    }
    // A token model without a vocabulary names what to supply.
    if tokens {
      #expect {
        _ = try ONNXFormat().read(path: path, options: ImportOptions())
      } throws: { ($0 as? ONNXError)?.requestedInput == .vocabulary }
    }
  }

  /// tf2onnx graphs outside the family fail in one line naming the node.
  @Test(arguments: [
    ("stacked", "(Loop): is a second Loop; RNNKit reads one Elman layer"),
    ("gru", "(GRU): no RNN node"),
  ])
  func tf2onnxGraphsOutsideTheFamilyAreRefused(name: String, reason: String) throws {
    let (path, folder) = try Self.file(try Self.fixture(name))
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect {
      _ = try ONNXFormat().read(path: path, options: ImportOptions())
    } throws: { error in
      let message = "\(error)"
      return message.contains(reason) && message.contains("node ") && !message.contains("\n")
    }
  }
}
