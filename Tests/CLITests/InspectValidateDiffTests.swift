import Foundation
import RNNKit
import Testing

@Suite struct InspectValidateDiffTests {
  @Test func inspectPrintsVersionSizesActivationsTableAndVocabulary() throws {
    let result = try CLI.run(["inspect", CLI.fixture("token-f32.rnn")])
    #expect(result.status == 0)
    let out = result.stdout
    #expect(out.contains("RNN format 1.0"))
    #expect(out.contains("H (hidden)  4"))
    #expect(out.contains("X (input)   8 (one-hot tokens)"))
    #expect(out.contains("f (hidden)  tanh") && out.contains("g (output)  softmax"))
    #expect(out.contains("Vocabulary: 8 tokens"))
    #expect(out.contains("first: <unk> my favourite dish is sushi . japanese"))
    #expect(out.contains("general.name"))
    // The table row of W: name, dtype, shape, bytes, offset and checksum.
    let container = try Container.open(path: CLI.fixture("token-f32.rnn"))
    let w = container.entry(named: "W")!
    let checksum = String(w.checksum, radix: 16)
    #expect(out.contains("[4, 12]  192    \(w.offset)") && out.contains(checksum))
  }

  @Test func inspectJSONIsParseableAndComplete() throws {
    let result = try CLI.run([
      "inspect", CLI.fixture("token-f16.rnn"), "--json", "--stats", "--tokens", "--tensor", "b",
    ])
    #expect(result.status == 0)
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    #expect(object["version"] as? String == "1.0")
    let model = object["model"] as! [String: Any]
    #expect(model["hidden_size"] as? Int == 4 && model["hidden_activation"] as? String == "tanh")
    let tensors = object["tensors"] as! [[String: Any]]
    #expect(tensors.map { $0["name"] as! String } == ["W", "b", "V", "c", "vocab.offsets", "vocab.bytes"])
    #expect(tensors[0]["dtype"] as? String == "f16")
    let stats = tensors[0]["stats"] as! [String: Any]
    #expect(stats["nan"] as? Int == 0)
    let vocabulary = object["vocabulary"] as! [String: Any]
    #expect((vocabulary["tokens"] as! [String]).count == 8)
    let radius = object["spectral_radius"] as! [String: Any]
    // numpy.linalg.eigvals on W_h of the golden model gives 0.13041; f16 storage shifts it slightly.
    #expect(abs((radius["estimate"] as! Double) - 0.1304) < 2e-3)
    let tensor = object["tensor"] as! [String: Any]
    #expect((tensor["values"] as! [Double]).count == 4)
  }

  @Test func inspectStatsMatchAnIndependentComputation() throws {
    let result = try CLI.run(["inspect", CLI.fixture("token-f32.rnn"), "--json", "--stats"])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    let tensors = object["tensors"] as! [[String: Any]]
    let model = try ElmanModel.load(path: CLI.fixture("token-f32.rnn"))
    let values = model.V.floats().map(Double.init)
    let mean = values.reduce(0, +) / Double(values.count)
    let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
    let stats = tensors[2]["stats"] as! [String: Any]
    #expect(abs((stats["mean"] as! Double) - mean) < 1e-9)
    #expect(abs((stats["std"] as! Double) - std) < 1e-9)
    #expect(stats["min"] as? Double == values.min())
  }

  @Test func inspectTensorSummarizesBigTensors() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("big.rnn").path
    let h = 40
    let x = 30
    let model = try ElmanModel(
      W: Parameter((0..<(h * (h + x))).map { Float($0) }, shape: [h, h + x]),
      b: Parameter([Float](repeating: 0, count: h), shape: [h]),
      V: Parameter([Float](repeating: 0, count: 2 * h), shape: [2, h]),
      c: Parameter([0, 0], shape: [2]), hiddenActivation: .tanh, outputActivation: .identity,
      inputKind: .dense)
    try model.write(to: path)
    let result = try CLI.run(["inspect", path, "--tensor", "W"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("  [0, 1, 2, …, 67, 68, 69]"))
    #expect(result.stdout.contains("  [2730, 2731, 2732, …, 2797, 2798, 2799]"))
    #expect(result.stdout.split(separator: "\n").count < 40)
    let all = try CLI.run(["inspect", path, "--tensor", "W", "--all"])
    #expect(all.stdout.contains("2765"))
  }

  @Test func validateAcceptsGoodFilesAndListsEveryProblem() throws {
    for name in ["token-f32.rnn", "token-f16.rnn", "token-bf16.rnn", "token-f64.rnn", "dense-f32.rnn"] {
      #expect(try CLI.run(["validate", CLI.fixture(name)]).status == 0, "\(name)")
    }
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: CLI.fixture("token-f32.rnn"))))
    let container = try Container.open(path: CLI.fixture("token-f32.rnn"))
    bytes[container.entry(named: "W")!.offset] ^= 1
    bytes[container.entry(named: "c")!.offset + 2] ^= 4
    let path = folder.appendingPathComponent("corrupt.rnn").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let result = try CLI.run(["validate", path])
    #expect(result.status == 1)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines[0].hasPrefix("\(path): tensor \"W\" checksum mismatch"))
    #expect(lines[1].hasPrefix("\(path): tensor \"c\" checksum mismatch"))
  }

  @Test func validateFlagsNonFiniteWeights() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("nan.rnn").path
    let model = try ElmanModel(
      W: Parameter([1, .nan, 0.5, .infinity, 0, 0], shape: [2, 3]),
      b: Parameter([0, 0], shape: [2]), V: Parameter([1, 1], shape: [1, 2]), c: Parameter([.nan], shape: [1]),
      hiddenActivation: .tanh, outputActivation: .identity, inputKind: .dense)
    try model.write(to: path)
    let result = try CLI.run(["validate", path])
    #expect(result.status == 1)
    #expect(
      result.stderr
        == "\(path): W has 1 NaN and 1 infinite values\n\(path): c has 1 NaN and 0 infinite values\n")
  }

  @Test func badFilesGiveOneLineErrorsAndNonZeroExit() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let empty = folder.appendingPathComponent("empty.rnn").path
    _ = FileManager.default.createFile(atPath: empty, contents: Data())
    let text = folder.appendingPathComponent("notes.rnn").path
    try Data("just some text\n".utf8).write(to: URL(fileURLWithPath: text))
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: CLI.fixture("token-f32.rnn"))))
    let truncated = folder.appendingPathComponent("truncated.rnn").path
    try Data(bytes[0..<700]).write(to: URL(fileURLWithPath: truncated))
    let cases: [(String, String)] = [
      (empty, "the file is empty"), (text, "not an .rnn file"), (truncated, "truncated"),
      (folder.appendingPathComponent("missing.rnn").path, "no such file"),
    ]
    for command in ["inspect", "validate", "diff"] {
      for (path, reason) in cases {
        let arguments = command == "diff" ? [command, path, CLI.fixture("token-f32.rnn")] : [command, path]
        let result = try CLI.run(arguments)
        #expect(result.status != 0, "\(command) \(path)")
        let message = result.stdout + result.stderr
        #expect(message.split(separator: "\n").count == 1, "\(command): \(message)")
        #expect(message.contains(path) && message.contains(reason), "\(command): \(message)")
      }
    }
  }

  @Test func diffReportsPerTensorDifferencesAndHonoursTolerance() throws {
    let same = try CLI.run(["diff", CLI.fixture("token-f32.rnn"), CLI.fixture("token-f32.rnn")])
    #expect(same.status == 0 && same.stdout.contains("equal within 0"))
    let half = try CLI.run(["diff", CLI.fixture("token-f32.rnn"), CLI.fixture("token-f16.rnn")])
    #expect(half.status == 1 && half.stdout.contains("DIFFERENT"))
    // f16 keeps 11 significant bits: values below 0.5 are within 2^-12 ≈ 2.4e-4.
    let tolerant = try CLI.run([
      "diff", CLI.fixture("token-f32.rnn"), CLI.fixture("token-f16.rnn"), "--tolerance", "2.5e-4",
    ])
    #expect(tolerant.status == 0)
    let other = try CLI.run(["diff", CLI.fixture("token-f32.rnn"), CLI.fixture("dense-f32.rnn"), "--json"])
    #expect(other.status == 1)
    // Shapes differ, so the differences are infinite: `Infinity`, as Python's json module reads it
    // (Foundation's reader on Linux does not, so it gets null here).
    #expect(other.stdout.contains("\"max_abs\": Infinity"))
    let plain = other.stdout.replacingOccurrences(of: "Infinity", with: "null")
    let object = try JSONSerialization.jsonObject(with: Data(plain.utf8)) as! [String: Any]
    #expect(object["equal"] as? Bool == false)
    #expect((object["metadata"] as! [String]).contains { $0.hasPrefix("rnn.hidden_activation") })
    #expect((object["vocabulary"] as! [String]).first?.contains("only") == true)
  }
}
