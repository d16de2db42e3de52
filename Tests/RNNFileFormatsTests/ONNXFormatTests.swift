import Foundation
import RNNFileFormats
import RNNFormat
import RNNModel
import Testing

/// A protobuf encoder of its own, so hostile files are built independently of the writer under test.
struct Proto {
  var bytes: [UInt8] = []

  mutating func varint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(value & 0x7F) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  mutating func int(_ field: Int, _ value: Int64) {
    varint(UInt64(field) << 3)
    varint(UInt64(bitPattern: value))
  }

  mutating func bytes(_ field: Int, _ value: [UInt8]) {
    varint(UInt64(field) << 3 | 2)
    varint(UInt64(value.count))
    bytes += value
  }

  mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

  static func message(_ build: (inout Proto) -> Void) -> [UInt8] {
    var proto = Proto()
    build(&proto)
    return proto.bytes
  }
}

/// A ModelProto with IR version 8, opset 17 and `graph`.
func modelBytes(graph: [UInt8]) -> [UInt8] {
  Proto.message {
    $0.int(1, 8)
    $0.bytes(7, graph)
    $0.bytes(8, Proto.message { $0.int(2, 17) })
  }
}

/// A graph input `name` of float32 with `rank` symbolic dimensions.
func floatInput(_ name: String, rank: Int) -> [UInt8] {
  Proto.message { info in
    info.string(1, name)
    info.bytes(
      2,
      Proto.message { type in
        type.bytes(
          1,
          Proto.message { tensor in
            tensor.int(1, 1)
            tensor.bytes(
              2,
              Proto.message { shape in
                for _ in 0..<rank { shape.bytes(1, Proto.message { $0.string(2, "d") }) }
              })
          })
      })
  }
}

func node(_ op: String, inputs: [String], outputs: [String], name: String = "") -> [UInt8] {
  Proto.message { node in
    for input in inputs { node.string(1, input) }
    for output in outputs { node.string(2, output) }
    if !name.isEmpty { node.string(3, name) }
    node.string(4, op)
  }
}

@Suite struct ONNXFormatTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Reads `bytes` as an ONNX file and returns the error's text; fails the test if it loads or the
  /// error is not one line naming the file.
  func readError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let path = try temporaryFolder().appendingPathComponent("hostile.onnx").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    do {
      _ = try ONNXFormat().read(path: path, options: ImportOptions(vocabularyTokens: ["a", "b"]))
      Issue.record("a hostile file loaded", sourceLocation: sourceLocation)
      return ""
    } catch {
      let message = "\(error)"
      #expect(
        !message.contains("\n") && message.hasPrefix(path), "\(message)", sourceLocation: sourceLocation)
      return message
    }
  }

  @Test func roundTripIsExactAndRecognised() throws {
    let model = try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/cuisine.rnn").path, options: ImportOptions())
    let path = try temporaryFolder().appendingPathComponent("m.onnx").path
    try ONNXFormat().write(model, to: path, options: ExportOptions())
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ONNXFormat().recognizes(path: path, prefix: prefix))
    #expect(!RNNFileFormat().recognizes(path: path, prefix: prefix))
    #expect(!SafetensorsFormat().recognizes(path: path, prefix: prefix))
    let back = try ONNXFormat().read(path: path, options: ImportOptions())
    #expect(back.W.floats() == model.W.floats() && back.b.floats() == model.b.floats())
    #expect(back.V.floats() == model.V.floats() && back.c.floats() == model.c.floats())
    #expect(back.vocabulary?.tokens == model.vocabulary?.tokens)
    #expect(
      back.hiddenActivation == model.hiddenActivation && back.outputActivation == model.outputActivation)
    #expect(back.tokenizer == model.tokenizer)
  }

  /// silu, which the RNN operator lacks, is written as a Scan and reads back exactly.
  @Test(arguments: ["token-f32.rnn", "dense-f32.rnn"])
  func siluRoundTripsThroughAScan(fixture: String) throws {
    var model = try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/\(fixture)").path, options: ImportOptions())
    model.hiddenActivation = .silu
    let path = try temporaryFolder().appendingPathComponent("m.onnx").path
    try ONNXFormat().write(model, to: path, options: ExportOptions())
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    // NodeProto.op_type is field 4: key 0x22, then the length.
    #expect(bytes.range(of: Data([0x22, 4] + Array("Scan".utf8))) != nil)
    #expect(bytes.range(of: Data([0x22, 3] + Array("RNN".utf8))) == nil)
    let back = try ONNXFormat().read(path: path, options: ImportOptions())
    #expect(back.hiddenActivation == .silu && back.inputKind == model.inputKind)
    #expect(back.W.floats() == model.W.floats() && back.b.floats() == model.b.floats())
    #expect(back.V.floats() == model.V.floats() && back.c.floats() == model.c.floats())
  }

  @Test func truncatedFilesFailInOneLine() throws {
    let model = try RNNFileFormat().read(
      path: Self.root.appendingPathComponent("Fixtures/token-f32.rnn").path, options: ImportOptions())
    let path = try temporaryFolder().appendingPathComponent("m.onnx").path
    try ONNXFormat().write(model, to: path, options: ExportOptions())
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    for length in [1, 2, 5, 40, bytes.count / 2, bytes.count - 1] {
      _ = try readError(Array(bytes.prefix(length)))
    }
  }

  @Test func aLengthPastTheEndIsNamed() throws {
    // Field 7 (graph) claims 200 bytes; none follow.
    let message = try readError([0x08, 0x08, 0x3A, 0xC8, 0x01])
    #expect(message.contains("model field 7: length 200 runs past the end"))
  }

  @Test func anOverlongVarintIsRefused() throws {
    let message = try readError([0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x7F])
    #expect(message.contains("varint overflows 64 bits"))
    let longer = try readError([0x08] + [UInt8](repeating: 0x80, count: 11) + [0x01])
    #expect(longer.contains("varint"))
  }

  @Test func groupsAreRefused() throws {
    #expect(try readError([0x08, 0x08, 0x3B]).contains("wire type 3"))
  }

  @Test func deepNestingIsCapped() throws {
    // A graph whose node has a graph attribute whose node has a graph attribute, … 12 deep.
    var graph = node("Relu", inputs: ["x"], outputs: ["y"])
    graph = Proto.message { $0.bytes(1, graph) }
    for _ in 0..<12 {
      let attribute = Proto.message {
        $0.string(1, "body")
        $0.bytes(6, graph)
        $0.int(20, 5)
      }
      let loop = Proto.message {
        $0.string(4, "Loop")
        $0.bytes(5, attribute)
      }
      graph = Proto.message { $0.bytes(1, loop) }
    }
    #expect(try readError(modelBytes(graph: graph)).contains("graphs nest deeper than 4 levels"))
  }

  @Test func hugeRepeatedCountsAreCapped() throws {
    // 70 000 empty nodes: two bytes each in the file.
    let nodes = (0..<140_000).map { UInt8($0 % 2 == 0 ? 0x0A : 0x00) }
    #expect(try readError(modelBytes(graph: nodes)).contains("more than 65536 nodes"))
    // A tensor with 9 dimensions.
    let tensor = Proto.message { tensor in for _ in 0..<9 { tensor.int(1, 1) } }
    #expect(
      try readError(modelBytes(graph: Proto.message { $0.bytes(5, tensor) })).contains("more than 8 values"))
    // A packed float attribute claiming more floats than the cap allows is refused by its length.
    let floats = Proto.message { $0.bytes(7, [UInt8](repeating: 0, count: (1 << 20) * 4 + 4)) }
    let relu = Proto.message {
      $0.string(4, "Relu")
      $0.bytes(5, floats)
    }
    #expect(
      try readError(modelBytes(graph: Proto.message { $0.bytes(1, relu) })).contains(
        "more than 1048576 values"))
  }

  @Test func externalDataIsRefused() throws {
    let weight = Proto.message {
      $0.int(1, 1)
      $0.int(1, 2)
      $0.int(1, 1)
      $0.int(2, 1)
      $0.string(8, "W")
      $0.bytes(
        13,
        Proto.message { entry in
          entry.string(1, "location")
          entry.string(2, "../../etc/passwd")
        })
      $0.int(14, 1)
    }
    let graph = Proto.message {
      $0.bytes(1, node("RNN", inputs: ["x", "W", "R"], outputs: ["y"], name: "rnn"))
      $0.bytes(5, weight)
      $0.bytes(11, floatInput("x", rank: 3))
    }
    let message = try readError(modelBytes(graph: graph))
    #expect(message.contains("node 0 \"rnn\" (RNN) W: stores its data in an external file"))
  }

  @Test func aGraphOfAnotherFamilyNamesTheFirstNodeThatDoesNotFit() throws {
    let graph = Proto.message {
      $0.bytes(1, node("Relu", inputs: ["x"], outputs: ["y"], name: "act\u{1B}[31m"))
      $0.bytes(11, floatInput("x", rank: 3))
    }
    let message = try readError(modelBytes(graph: graph))
    #expect(message.contains("node 0 \"act") && message.contains("no RNN node"))
    #expect(!message.unicodeScalars.contains { $0.properties.generalCategory == .control })
  }

  /// Every input in Fuzz/regressions-onnx/ loads or fails in one line; none traps.
  @Test func fuzzRegressionsReplay() throws {
    let folder = Self.root.appendingPathComponent("Fuzz/regressions-onnx")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != "README.md" }
    #expect(!names.isEmpty, "Fuzz/regressions-onnx/ is empty; the replay would test nothing")
    for name in names {
      let path = folder.appendingPathComponent(name).path
      do {
        _ = try ONNXFormat().read(path: path, options: ImportOptions())
      } catch {
        #expect(!"\(error)".contains("\n"), "\(name)")
      }
    }
  }
}
